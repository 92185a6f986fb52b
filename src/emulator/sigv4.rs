//! AWS Signature Version 4 verification, as an AWS JSON service performs it: the signature,
//! the signed headers, the body hash, and the credential scope's date, region and service.
//!
//! Verified against two independent signers in the tests: the Rust SDK's and botocore's (the
//! AWS CLI conformance test in `tests/conformance/`).

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::protocol::ApiError;

/// How far a request's `X-Amz-Date` may be from the emulator's clock, as AWS allows.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// A key pair the emulator accepts, and the account it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
}

/// What verification needs of a request.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Header names lower-cased; a repeated header has several values.
    pub headers: &'a BTreeMap<String, Vec<String>>,
    pub body: &'a [u8],
}

/// Checks the request's signature; returns the credential that signed it.
pub fn verify<'c>(
    request: &SignedRequest<'_>,
    credentials: &'c [Credential],
    region: &str,
    service: &str,
) -> Result<&'c Credential, ApiError> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.first()).map(String::as_str);
    let Some(authorization) = header("authorization") else {
        return Err(ApiError::new(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let incomplete = |what: &str| {
        ApiError::new(
            400,
            "IncompleteSignatureException",
            format!("Authorization header requires '{what}' parameter. Authorization={authorization}"),
        )
    };
    let Some(fields) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(ApiError::new(
            400,
            "IncompleteSignatureException",
            "Only the AWS4-HMAC-SHA256 signing algorithm is supported",
        ));
    };
    let mut credential_field = None;
    let mut signed_headers_field = None;
    let mut signature_field = None;
    for part in fields.split(',') {
        let (key, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        match key {
            "Credential" => credential_field = Some(value),
            "SignedHeaders" => signed_headers_field = Some(value),
            "Signature" => signature_field = Some(value),
            _ => {}
        }
    }
    let credential_field = credential_field.ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = signed_headers_field.ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = signature_field.ok_or_else(|| incomplete("Signature"))?;
    let amz_date = header("x-amz-date").ok_or_else(|| incomplete("X-Amz-Date"))?;

    let scope: Vec<&str> = credential_field.split('/').collect();
    let [access_key, date, scope_region, scope_service, terminator] = scope[..] else {
        return Err(incomplete("Credential"));
    };
    let Some(credential) = credentials.iter().find(|c| c.access_key_id == access_key) else {
        return Err(ApiError::new(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let invalid = |message: String| ApiError::new(403, "InvalidSignatureException", message);
    if terminator != "aws4_request" {
        return Err(invalid("Credential should be scoped with a valid terminator: 'aws4_request'.".into()));
    }
    if scope_region != region {
        return Err(invalid(format!(
            "Credential should be scoped to a valid region, not '{scope_region}'. The emulator's region is '{region}'."
        )));
    }
    if scope_service != service {
        return Err(invalid(format!("Credential should be scoped to correct service: '{service}'.")));
    }
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| invalid(format!("X-Amz-Date '{amz_date}' is not in the form 20260101T000000Z")))?;
    if !amz_date.starts_with(date) {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: {date}"
        )));
    }
    let skew = (Utc::now() - Utc.from_utc_datetime(&signed_at)).num_seconds();
    if skew.abs() > MAX_SKEW_SECONDS {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes of skew."
        )));
    }

    let canonical = canonical_request(request, signed_headers)
        .ok_or_else(|| invalid("A header named in SignedHeaders is missing from the request.".into()))?;
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{scope_region}/{scope_service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&credential.secret_access_key, date, scope_region, scope_service);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS \
             Secret Access Key and signing method. Consult the service documentation for details."
                .into(),
        ));
    }
    Ok(credential)
}

/// The canonical request of SigV4, or `None` if a signed header is absent.
fn canonical_request(request: &SignedRequest<'_>, signed_headers: &str) -> Option<String> {
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let values = request.headers.get(name)?;
        let joined: Vec<String> =
            values.iter().map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        headers.push_str(&format!("{name}:{}\n", joined.join(",")));
    }
    let payload_hash = request
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| hex::encode(Sha256::digest(request.body)));
    Some(format!(
        "{}\n{}\n{}\n{headers}\n{signed_headers}\n{payload_hash}",
        request.method,
        canonical_path(request.path),
        canonical_query(request.query)
    ))
}

fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k)), uri_encode(&percent_decode(v)))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::{canonical_query, signing_key};

    /// The signing-key example from the AWS SigV4 documentation.
    #[test]
    fn derives_the_documented_signing_key() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn sorts_and_encodes_the_query() {
        assert_eq!(canonical_query("b=2&a=1&a=0&c=x%20y"), "a=0&a=1&b=2&c=x%20y");
        assert_eq!(canonical_query(""), "");
    }
}
