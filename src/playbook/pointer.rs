//! A place in the playbook document, as a list of keys and indices.
//!
//! Errors from every stage name a `Pointer`; the spanned YAML tree turns it into a line and
//! column when the error is shown. It prints the way people read paths
//! (`steps[0].acknowledge.job-id`) and converts to a JSON Pointer for tools.

use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Pointer(Vec<String>);

impl Pointer {
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses an RFC 6901 JSON Pointer (`/steps/0/acknowledge`).
    pub fn from_json_pointer(text: &str) -> Self {
        Self(text.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect())
    }

    pub fn join(&self, segment: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment.into());
        Self(segments)
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    pub fn last(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    pub fn parent(&self) -> Self {
        let mut segments = self.0.clone();
        segments.pop();
        Self(segments)
    }

    pub fn to_json_pointer(&self) -> String {
        self.0.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect()
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            let is_index = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
            let is_plain = !segment.is_empty()
                && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if is_index {
                write!(f, "[{segment}]")?;
            } else if is_plain {
                if i > 0 {
                    f.write_str(".")?;
                }
                f.write_str(segment)?;
            } else {
                write!(f, "[{segment:?}]")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Pointer;

    #[test]
    fn prints_like_a_path_and_round_trips_json_pointers() {
        let p = Pointer::from_json_pointer("/steps/0/acknowledge/job-id");
        assert_eq!(p.to_string(), "steps[0].acknowledge.job-id");
        assert_eq!(p.to_json_pointer(), "/steps/0/acknowledge/job-id");
        let odd = Pointer::root().join("vars").join("a/b c");
        assert_eq!(odd.to_string(), "vars[\"a/b c\"]");
        assert_eq!(Pointer::from_json_pointer(&odd.to_json_pointer()), odd);
    }
}
