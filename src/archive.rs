//! Zip archives in and out of a working directory: CodePipeline's artifacts are zips.
//!
//! Extraction treats the archive as hostile (it comes from a customer's pipeline): an entry
//! whose name climbs out (`..`), is absolute, or is a symlink pointing outside is refused;
//! files are created with `create_new` (never through an existing file or symlink) in
//! directories that are checked to resolve inside the destination; the bytes actually
//! written, not the sizes the archive claims, are counted against [`Limits`]. Nothing is
//! world-readable. Creation stores files and symlinks as they are and follows no symlink,
//! so a program cannot smuggle a file from outside its directory into an upload.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// What one archive may hold once extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of every file extracted.
    pub bytes: u64,
    /// Entries (files, directories and symlinks).
    pub entries: usize,
}

impl Default for Limits {
    /// 1 GiB and 100,000 entries: far above a deployment's sources, far below a full disk.
    fn default() -> Self {
        Self { bytes: 1 << 30, entries: 100_000 }
    }
}

/// What an extraction or an archive holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contents {
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("the archive is not a valid zip: {0}")]
    Corrupt(String),
    #[error("entry `{entry}` would be written outside the directory ({why}); nothing of the archive is kept")]
    Escapes { entry: String, why: &'static str },
    #[error(
        "entry `{entry}` is a symlink to `{target}`, outside the directory; nothing of the archive is kept"
    )]
    SymlinkOut { entry: String, target: String },
    #[error("entry `{entry}` appears twice or names an existing path")]
    Duplicate { entry: String },
    #[error("the archive holds more than {} once extracted (the limit); nothing of it is kept", human_bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("the archive has more than {limit} entries (the limit); nothing of it is kept")]
    TooManyEntries { limit: usize },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io { path: path.to_path_buf(), source }
}

/// Extracts the zip `archive` into `destination` (created, mode 0700, and expected empty).
/// On any refusal the destination is removed again, so a half-extracted input is never used.
pub fn extract<R: Read + Seek>(
    archive: R,
    destination: &Path,
    limits: Limits,
) -> Result<Contents, ArchiveError> {
    create_private_dir(destination)?;
    let result = extract_into(archive, destination, limits);
    if result.is_err() {
        let _ = fs::remove_dir_all(destination);
    }
    result
}

fn extract_into<R: Read + Seek>(archive: R, root: &Path, limits: Limits) -> Result<Contents, ArchiveError> {
    let mut archive = zip::ZipArchive::new(archive).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    if archive.len() > limits.entries {
        return Err(ArchiveError::TooManyEntries { limit: limits.entries });
    }
    let canonical_root = fs::canonicalize(root).map_err(io_error(root))?;
    let mut contents = Contents::default();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let name = entry.name().map_err(|e| ArchiveError::Corrupt(e.to_string()))?.into_owned();
        let relative = safe_relative(&name)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let path = root.join(&relative);
        if entry.is_dir() {
            create_dirs_inside(&canonical_root, root, &relative, &name)?;
            continue;
        }
        let parent = relative.parent().unwrap_or(Path::new(""));
        create_dirs_inside(&canonical_root, root, parent, &name)?;
        if entry.is_symlink() {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .map_err(|e| ArchiveError::Corrupt(format!("entry `{name}`: {e}")))?;
            if !stays_inside(parent, &target) {
                return Err(ArchiveError::SymlinkOut { entry: name, target });
            }
            std::os::unix::fs::symlink(&target, &path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => ArchiveError::Duplicate { entry: name.clone() },
                _ => ArchiveError::Io { path: path.clone(), source: e },
            })?;
            continue;
        }
        let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
        // create_new: O_EXCL, which never follows a symlink left by an earlier entry.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o700 } else { 0o600 })
            .open(&path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => ArchiveError::Duplicate { entry: name.clone() },
                _ => ArchiveError::Io { path: path.clone(), source: e },
            })?;
        let room = limits.bytes - contents.bytes;
        // Count what is really inflated: the sizes an archive declares can lie.
        let written = io::copy(&mut (&mut entry).take(room + 1), &mut file)
            .map_err(|e| ArchiveError::Corrupt(format!("entry `{name}`: {e}")))?;
        if written > room {
            return Err(ArchiveError::TooLarge { limit: limits.bytes });
        }
        contents.bytes += written;
        contents.files += 1;
    }
    Ok(contents)
}

/// The entry's path relative to the destination, or why it is refused.
fn safe_relative(name: &str) -> Result<PathBuf, ArchiveError> {
    let escapes = |why| ArchiveError::Escapes { entry: name.to_string(), why };
    if name.contains('\0') {
        return Err(escapes("a NUL in its name"));
    }
    // Zip names use `/`; a `\` is how a Windows-made archive says the same.
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') || unified.as_bytes().get(1) == Some(&b':') {
        return Err(escapes("an absolute path"));
    }
    let mut relative = PathBuf::new();
    for component in Path::new(&unified).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(escapes("a `..` in its path")),
            Component::RootDir | Component::Prefix(_) => return Err(escapes("an absolute path")),
        }
    }
    Ok(relative)
}

/// Whether a symlink in `dir` (relative to the root) pointing at `target` stays inside.
fn stays_inside(dir: &Path, target: &str) -> bool {
    if target.starts_with('/') || target.contains('\0') {
        return false;
    }
    let mut depth: isize = dir.components().count() as isize;
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Creates `relative`'s directories under `root` and checks that they resolve inside it
/// (a symlink extracted earlier cannot redirect later entries).
fn create_dirs_inside(
    canonical_root: &Path,
    root: &Path,
    relative: &Path,
    entry: &str,
) -> Result<(), ArchiveError> {
    let mut path = root.to_path_buf();
    for part in relative.components() {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = fs::canonicalize(&path).map_err(io_error(&path))?;
                if !resolved.starts_with(canonical_root) || !resolved.is_dir() {
                    return Err(ArchiveError::Escapes {
                        entry: entry.to_string(),
                        why: "a path through a symlink",
                    });
                }
            }
            Ok(_) => return Err(ArchiveError::Duplicate { entry: entry.to_string() }),
            Err(_) => {
                fs::DirBuilder::new().mode(0o700).create(&path).map_err(io_error(&path))?;
            }
        }
    }
    Ok(())
}

/// Creates `path` and its missing parents, mode 0700.
pub fn create_private_dir(path: &Path) -> Result<(), ArchiveError> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(io_error(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io_error(path))
}

/// Zips everything under `source` into `writer`, in name order; symlinks are stored as
/// symlinks, never followed. Counts what it stored.
pub fn create<W: Write + Seek>(source: &Path, writer: W) -> Result<Contents, ArchiveError> {
    let mut zip = zip::ZipWriter::new(writer);
    let mut contents = Contents::default();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = source.join(&relative);
        let mut entries: Vec<_> =
            fs::read_dir(&dir).map_err(io_error(&dir))?.collect::<Result<_, _>>().map_err(io_error(&dir))?;
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        for entry in entries {
            let name = relative.join(entry.file_name());
            let path = entry.path();
            let zip_name = name.to_string_lossy().replace('\\', "/");
            let meta = fs::symlink_metadata(&path).map_err(io_error(&path))?;
            let corrupt = |e: zip::result::ZipError| ArchiveError::Io {
                path: path.clone(),
                source: io::Error::other(e.to_string()),
            };
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(io_error(&path))?;
                let options = zip::write::SimpleFileOptions::default();
                zip.add_symlink(zip_name, target.to_string_lossy(), options).map_err(corrupt)?;
            } else if meta.is_dir() {
                let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
                zip.add_directory(format!("{zip_name}/"), options).map_err(corrupt)?;
                pending.push(name);
            } else if meta.is_file() {
                let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
                let options = zip::write::SimpleFileOptions::default()
                    .unix_permissions(mode)
                    .large_file(meta.len() >= u64::from(u32::MAX));
                zip.start_file(zip_name, options).map_err(corrupt)?;
                let mut file = fs::File::open(&path).map_err(io_error(&path))?;
                contents.bytes += io::copy(&mut file, &mut zip).map_err(io_error(&path))?;
                contents.files += 1;
            }
            // Sockets, FIFOs and devices have no place in an artifact: left out.
        }
    }
    zip.finish().map_err(|e| ArchiveError::Io {
        path: source.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    Ok(contents)
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn zip_of(build: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        build(&mut writer);
        writer.finish().unwrap().into_inner()
    }

    fn file(writer: &mut zip::ZipWriter<Cursor<Vec<u8>>>, name: &str, data: &[u8]) {
        writer.start_file(name, SimpleFileOptions::default()).unwrap();
        writer.write_all(data).unwrap();
    }

    /// Every path under `dir`, so a test can see that nothing else was written.
    fn tree(dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            found.push(entry.file_name().to_string_lossy().into_owned());
            if entry.file_type().unwrap().is_dir() {
                found.extend(
                    tree(&entry.path())
                        .into_iter()
                        .map(|p| format!("{}/{p}", entry.file_name().to_string_lossy())),
                );
            }
        }
        found.sort();
        found
    }

    #[test]
    fn round_trips_a_tree_privately() {
        let temp = tempfile::tempdir().unwrap();
        let source = temp.path().join("src");
        fs::create_dir_all(source.join("app/bin")).unwrap();
        fs::write(source.join("app/config.json"), "{}").unwrap();
        fs::write(source.join("app/bin/run"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(source.join("app/bin/run"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("config.json", source.join("app/link")).unwrap();
        let mut bytes = Cursor::new(Vec::new());
        let made = create(&source, &mut bytes).unwrap();
        assert_eq!(made, Contents { files: 2, bytes: 12 });
        let out = temp.path().join("out");
        let got = extract(Cursor::new(bytes.into_inner()), &out, Limits::default()).unwrap();
        assert_eq!(got, made);
        assert_eq!(tree(&out), ["app", "app/bin", "app/bin/run", "app/config.json", "app/link"]);
        assert_eq!(fs::read_link(out.join("app/link")).unwrap(), Path::new("config.json"));
        assert_eq!(fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(out.join("app/config.json")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(out.join("app/bin/run")).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn refuses_entries_that_escape_and_keeps_nothing() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("parent", zip_of(|w| file(w, "../evil.txt", b"x"))),
            ("nested parent", zip_of(|w| file(w, "a/../../evil.txt", b"x"))),
            ("absolute", zip_of(|w| file(w, "/tmp/evil.txt", b"x"))),
            ("windows", zip_of(|w| file(w, "..\\evil.txt", b"x"))),
            (
                "symlink out",
                zip_of(|w| w.add_symlink("link", "../..", SimpleFileOptions::default()).unwrap()),
            ),
            (
                "symlink absolute",
                zip_of(|w| w.add_symlink("link", "/etc", SimpleFileOptions::default()).unwrap()),
            ),
        ];
        for (what, bytes) in cases {
            let temp = tempfile::tempdir().unwrap();
            let out = temp.path().join("work/in");
            let Err(error) = extract(Cursor::new(bytes), &out, Limits::default()) else {
                panic!("{what}: extracted")
            };
            assert!(
                matches!(error, ArchiveError::Escapes { .. } | ArchiveError::SymlinkOut { .. }),
                "{what}: {error}"
            );
            assert_eq!(tree(temp.path()), ["work"], "{what}: something was left");
        }
    }

    #[test]
    fn counts_inflated_bytes_not_declared_ones() {
        let bomb = zip_of(|w| {
            let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            w.start_file("zeros", options).unwrap();
            w.write_all(&vec![0u8; 4 << 20]).unwrap();
        });
        assert!(bomb.len() < 64 * 1024, "a small zip: {}", bomb.len());
        let temp = tempfile::tempdir().unwrap();
        let limits = Limits { bytes: 1 << 20, entries: 10 };
        let error = extract(Cursor::new(bomb), &temp.path().join("in"), limits).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the archive holds more than 1 MiB once extracted (the limit); nothing of it is kept"
        );
        assert!(!temp.path().join("in").exists());
        let many = zip_of(|w| (0..11).for_each(|i| file(w, &format!("f{i}"), b"x")));
        let error = extract(Cursor::new(many), &temp.path().join("in"), limits).unwrap_err();
        assert!(matches!(error, ArchiveError::TooManyEntries { limit: 10 }));
    }

    #[test]
    fn a_corrupt_archive_is_a_clear_error() {
        let temp = tempfile::tempdir().unwrap();
        let mut bytes = zip_of(|w| file(w, "a.txt", b"hello"));
        bytes.truncate(bytes.len() / 2);
        let error = extract(Cursor::new(bytes), &temp.path().join("in"), Limits::default()).unwrap_err();
        assert!(error.to_string().starts_with("the archive is not a valid zip"), "{error}");
        let error = extract(Cursor::new(b"not a zip".to_vec()), &temp.path().join("in"), Limits::default())
            .unwrap_err();
        assert!(matches!(error, ArchiveError::Corrupt(_)), "{error}");
    }
}
