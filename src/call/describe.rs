//! What a person reads when a call fails: the one place that turns an SDK error into words.
//!
//! The SDK's own `Display` of an error ends with its `Debug` form (`DispatchFailure(...)`, raw
//! headers, `SdkBody`), which is for the SDK's developers. Here a service error is its code and
//! message; a transport failure is what happened (connection refused, a name that does not
//! resolve, a TLS failure, no answer in time) and where (the endpoint URL) with what to check;
//! an answer that cannot be read names the operation, the HTTP status and the first bytes of
//! the body; and codes with a usual cause get a hint. The full SDK detail is kept apart
//! ([`super::CallError::detail`]) for `-vv`.

use std::error::Error;
use std::fmt;

use super::CallError;

/// How a request failed to get an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Nothing listens at the address.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake failed (certificate, protocol, a proxy in the way).
    Tls,
    /// No answer in time (connect or read timeout).
    Timeout,
    /// The connection closed before an answer.
    Closed,
    /// The answer came but could not be read as the service's.
    Unreadable,
    Other,
}

impl Transport {
    /// What happened, in words.
    pub fn summary(self) -> &'static str {
        match self {
            Transport::Refused => "connection refused",
            Transport::Dns => "the host name does not resolve",
            Transport::Tls => "the TLS handshake failed",
            Transport::Timeout => "no answer in time",
            Transport::Closed => "the connection closed before an answer",
            Transport::Unreadable => "the answer could not be read",
            Transport::Other => "the request could not be sent",
        }
    }

    /// What to check.
    fn advice(self, custom_endpoint: bool) -> &'static str {
        match (self, custom_endpoint) {
            (Transport::Refused, true) => "is the server running there? check --endpoint-url",
            (Transport::Refused, false) => "check the network, a proxy (HTTPS_PROXY) or a firewall",
            (Transport::Dns, true) => "check the host in --endpoint-url",
            (Transport::Dns, false) => "check the region and the machine's DNS",
            (Transport::Tls, _) => "check the system's CA certificates, or a proxy that intercepts TLS",
            (Transport::Timeout, _) => {
                "check the network; raise aws.timeouts or the step's timeout if the service is slow"
            }
            (Transport::Closed, _) => "the service or a proxy closed it; handoff retries this",
            (Transport::Unreadable, true) => "is --endpoint-url an endpoint of this AWS service?",
            (Transport::Unreadable, false) => "the service answered something unexpected",
            (Transport::Other, _) => "see -vv for the SDK's detail",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.summary())
    }
}

/// Every error in `error`'s source chain, by `Display` only, joined with `: `; a message that
/// merely repeats the next one is left out.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        // Wrappers that add nothing a person can use.
        let generic =
            matches!(text.as_str(), "dispatch failure" | "io error" | "service error" | "other" | "");
        if !generic && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        current = error.source();
    }
    parts.join(": ")
}

/// Classifies a transport failure from its source chain.
pub fn transport(error: &(dyn Error + 'static)) -> Transport {
    let mut current = Some(error);
    let mut texts = String::new();
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Transport::Refused,
                std::io::ErrorKind::TimedOut => return Transport::Timeout,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe => return Transport::Closed,
                _ => {}
            }
        }
        texts.push_str(&error.to_string().to_ascii_lowercase());
        texts.push('\n');
        current = error.source();
    }
    if texts.contains("connection refused") {
        Transport::Refused
    } else if texts.contains("dns error") || texts.contains("failed to lookup address") {
        Transport::Dns
    } else if texts.contains("certificate") || texts.contains("tls") || texts.contains("handshake") {
        Transport::Tls
    } else if texts.contains("timed out") || texts.contains("timeout") {
        Transport::Timeout
    } else if texts.contains("connection closed") || texts.contains("reset") || texts.contains("incomplete") {
        Transport::Closed
    } else {
        Transport::Other
    }
}

/// The first bytes of a body a person may read: valid UTF-8 up to `n` bytes, control
/// characters shown as `\u{..}`, marked when cut.
pub fn body_start(body: &[u8], n: usize) -> String {
    let cut = &body[..body.len().min(n)];
    let text = String::from_utf8_lossy(cut);
    let mut shown: String =
        text.chars().map(|c| if c.is_control() && c != ' ' { ' ' } else { c }).collect::<String>();
    shown = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > n {
        shown.push_str("...");
    }
    shown
}

/// Where and what a call was, for [`explain`].
#[derive(Debug, Clone, Default)]
pub struct CallSite {
    /// The API operation (`ListEngagementInvitations`).
    pub operation: &'static str,
    /// The IAM action that allows it (`partnercentral:ListEngagementInvitations`); `None` where
    /// the action's own messages say more (S3 artifacts).
    pub iam_action: Option<String>,
    /// The endpoint URL, and whether the user configured it (`--endpoint-url`).
    pub endpoint: Option<(String, bool)>,
}

/// The error as a person should read it: a transport failure with the endpoint and what to
/// check, an unreadable answer with the operation, a service error with its hint. Explaining
/// twice changes nothing.
pub fn explain(error: &CallError, site: &CallSite) -> CallError {
    let mut explained = error.clone();
    if error.explained {
        return explained;
    }
    explained.explained = true;
    let custom = site.endpoint.as_ref().is_some_and(|(_, custom)| *custom);
    let at = site.endpoint.as_ref().map_or("the service's endpoint", |(url, _)| url.as_str());
    match error.transport {
        Some(Transport::Unreadable) => {
            explained.message = format!(
                "the answer to {} from {at} could not be read: {} ({})",
                site.operation,
                error.message,
                Transport::Unreadable.advice(custom)
            );
        }
        Some(kind) => {
            explained.message =
                format!("could not reach the endpoint URL {at}: {} ({})", error.message, kind.advice(custom));
        }
        None => {
            if let Some(hint) = error.code.as_deref().and_then(|code| hint(code, site.iam_action.as_deref()))
            {
                explained.message = format!("{} ({hint})", error.message);
            }
        }
    }
    explained
}

/// A hint for a service error code where the usual cause is known.
pub fn hint(code: &str, iam_action: Option<&str>) -> Option<String> {
    let hint = match code {
        "InvalidNonceException" => {
            "the job was acknowledged elsewhere, or the nonce is stale: get the job's details again for its current nonce"
                .to_string()
        }
        "InvalidClientTokenException" => {
            "the client token does not match the action's clientId: check the secret holding the partner action's client token"
                .to_string()
        }
        "AccessDeniedException" | "AccessDenied" => {
            format!("the credentials' IAM policy must allow {}", iam_action?)
        }
        "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidAccessKeyId" => {
            "the access key is not known to AWS: check AWS_PROFILE or the keys in the environment".to_string()
        }
        "InvalidSignatureException" | "SignatureDoesNotMatch" => {
            "the secret key does not match the access key, or the machine's clock is off".to_string()
        }
        "ExpiredTokenException" => {
            "the session has expired: refresh the credentials (for SSO: `aws sso login --profile NAME`)".to_string()
        }
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<dyn Error + 'static>>);
    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn a_chain_is_words_without_debug_or_repeats() {
        let io =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let error = Wrap(
            "dispatch failure",
            Some(Box::new(Wrap("io error", Some(Box::new(Wrap("tcp connect error", Some(Box::new(io)))))))),
        );
        assert_eq!(chain(&error), "tcp connect error: Connection refused (os error 111)");
        assert_eq!(transport(&error), Transport::Refused);
        let dns = Wrap("dns error", Some(Box::new(Wrap("failed to lookup address information", None))));
        assert_eq!(transport(&dns), Transport::Dns);
    }

    #[test]
    fn bodies_are_cut_and_flattened() {
        assert_eq!(body_start(b"<html>\n<body>Not Found</body>", 14), "<html> <body>N...");
        assert_eq!(body_start(b"\xff\xfeok", 10), "\u{fffd}\u{fffd}ok");
    }

    #[test]
    fn usual_causes_have_hints() {
        let iam = Some("partnercentral:StartEngagementByAcceptingInvitationTask");
        let hint = hint("AccessDeniedException", iam).unwrap();
        assert_eq!(
            hint,
            "the credentials' IAM policy must allow partnercentral:StartEngagementByAcceptingInvitationTask"
        );
        assert!(super::hint("InvalidNonceException", None).unwrap().contains("nonce is stale"));
        assert_eq!(super::hint("ThrottlingException", iam), None);
        assert_eq!(super::hint("AccessDenied", None), None);
    }
}
