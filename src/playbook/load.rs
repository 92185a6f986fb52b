//! Loading a playbook file: bytes, then the spanned YAML tree, then the schema, then the
//! typed [`Playbook`]. Each stage stops the pipeline with its own typed error; the semantic
//! checks come after, in `check`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{Playbook, Pointer};
use crate::schema::{self, Violation};
use crate::source::{Pos, SourceFile};
use crate::yaml::{self, Node, YamlError};

/// The largest playbook we read. A 10,000-step playbook is about 2 MiB.
pub const MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// A playbook that passed the schema, with the tree its positions come from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub doc: Node,
    pub playbook: Playbook,
}

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the file is larger than {} MiB", MAX_FILE_SIZE / 1024 / 1024)]
    TooLarge { size: u64 },
    #[error("the file is not valid UTF-8")]
    NotUtf8 { at: Pos, byte: u8 },
    #[error("the YAML is malformed")]
    Yaml(Vec<YamlError>),
    #[error("the playbook does not match its schema")]
    Schema { doc: Box<Node>, violations: Vec<Violation> },
    /// The schema passed but the typed model refused the value: a gap between the two.
    #[error("{message}")]
    Model { doc: Box<Node>, at: Pointer, message: String },
}

impl LoadError {
    /// The parsed document, when loading got that far.
    pub fn into_document(self) -> Option<Node> {
        match self {
            LoadError::Schema { doc, .. } | LoadError::Model { doc, .. } => Some(*doc),
            _ => None,
        }
    }
}

/// Reads a playbook file within the size limit and checks that it is UTF-8.
pub fn load_file(path: &Path) -> Result<SourceFile, LoadError> {
    let io_error = |source| LoadError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit so an oversized file is refused without reading it all.
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(LoadError::TooLarge { size });
    }
    source_from_bytes(path, bytes)
}

/// A playbook's bytes as a [`SourceFile`]: within the size limit and UTF-8 (`path` only
/// names it in messages).
pub fn source_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<SourceFile, LoadError> {
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge { size: bytes.len() as u64 });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        LoadError::NotUtf8 {
            at: crate::source::end_of(valid),
            byte: e.as_bytes()[e.utf8_error().valid_up_to()],
        }
    })?;
    Ok(SourceFile::new(path, text))
}

/// Parses and schema-checks a playbook's text.
pub fn load_source(source: &SourceFile) -> Result<Loaded, LoadError> {
    let doc = yaml::parse(&source.text).map_err(LoadError::Yaml)?;
    let json = doc.to_json();
    let violations = schema::validate(&json);
    if !violations.is_empty() {
        return Err(LoadError::Schema { doc: Box::new(doc), violations });
    }
    let playbook: Playbook = match serde_path_to_error::deserialize(&json) {
        Ok(playbook) => playbook,
        Err(e) => {
            return Err(LoadError::Model {
                doc: Box::new(doc),
                at: Pointer::from_json_pointer(&json_pointer_of(e.path())),
                message: e.inner().to_string(),
            });
        }
    };
    Ok(Loaded { doc, playbook })
}

fn json_pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(format!("/{index}")),
            Segment::Map { key } => Some(format!("/{}", key.replace('~', "~0").replace('/', "~1"))),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}
