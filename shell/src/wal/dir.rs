//! The IO seam of the WAL: a directory of named files. [`FsDir`] is the real
//! one; [`MemDir`] keeps files in memory and can crash, dropping or tearing
//! whatever was written but not synced, so recovery is tested without disks.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::mapped::FileBytes;

/// A file open for appending.
pub trait AppendFile: Send {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
    /// Gives back the reserved space past what was appended (see
    /// [`Dir::create`]); the file takes no more appends.
    fn trim(&mut self) -> io::Result<()>;
}

/// A file [`Dir::write_atomic`] fills: written in order, and may seek back
/// to overwrite what it wrote (a header whose checksum covers what follows).
pub trait NewFile: Write + Seek {}

impl<T: Write + Seek + ?Sized> NewFile for T {}

/// What fills a file for [`Dir::write_atomic`].
pub type Fill<'a> = &'a mut dyn FnMut(&mut dyn NewFile) -> io::Result<()>;

/// A flat directory of files, shared by the WAL and a snapshot writer.
pub trait Dir: Send + Sync {
    /// Names of the files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Reads a whole file, mapped into memory where the backend can. The
    /// file must not change while the result lives: recovery drops a
    /// segment's bytes before it truncates a torn tail.
    fn read_mapped(&self, name: &str) -> io::Result<FileBytes> {
        self.read(name).map(FileBytes::Read)
    }
    /// Creates (or empties) a file and opens it for appending at its start.
    /// The first `preallocate` bytes are reserved on disk and read as zeros
    /// until written, so a sync of data written into them need not also
    /// commit a new file length (one journal write less per fsync). A
    /// directory that cannot reserve space makes a plain empty file.
    fn create(&self, name: &str, preallocate: u64) -> io::Result<Box<dyn AppendFile>>;
    /// Cuts a file to `len` bytes, durably.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Replaces a file's whole content so that a crash leaves either the
    /// old content or the new one, never a mix: `fill` writes `NAME.tmp`,
    /// which is then fsynced and renamed over `name`, and the directory
    /// fsynced. The content streams to the file: it need not fit in memory.
    /// After a failure the temporary file is removed, as far as that works
    /// (it may be large, on a full disk); recovery removes any left.
    fn write_atomic(&self, name: &str, fill: Fill) -> io::Result<()>;
    /// Makes creations, renames and removals durable.
    fn sync_dir(&self) -> io::Result<()>;
}

/// A real directory on disk.
pub struct FsDir {
    path: PathBuf,
}

impl FsDir {
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        fs::create_dir_all(&path)?;
        Ok(FsDir { path })
    }
}

struct FsFile(File);

impl AppendFile for FsFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        // fdatasync: the file's length is data here, and it is included.
        self.0.sync_data()
    }

    fn trim(&mut self) -> io::Result<()> {
        use std::io::Seek;
        let written = self.0.stream_position()?;
        self.0.set_len(written)
    }
}

impl Dir for FsDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path.join(name))
    }

    fn read_mapped(&self, name: &str) -> io::Result<FileBytes> {
        FileBytes::map(&File::open(self.path.join(name))?)
    }

    fn create(&self, name: &str, preallocate: u64) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.path.join(name))?;
        if preallocate > 0 && reserve(&file, preallocate).is_ok() {
            // The reserved length must be durable before records rely on it.
            file.sync_all()?;
        }
        self.sync_dir()?;
        Ok(Box::new(FsFile(file)))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path.join(name))?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path.join(name))
    }

    fn write_atomic(&self, name: &str, fill: Fill) -> io::Result<()> {
        let temporary = self.path.join(format!("{name}.tmp"));
        let renamed = write_synced(&temporary, fill)
            .and_then(|()| fs::rename(&temporary, self.path.join(name)));
        if let Err(error) = renamed {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        self.sync_dir()
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.path)?.sync_all()
    }
}

/// Creates (or empties) the file at `path`, has `fill` write it, then
/// fsyncs it.
fn write_synced(path: &Path, fill: Fill) -> io::Result<()> {
    let mut file = File::create(path)?;
    fill(&mut file)?;
    file.sync_all()
}

/// Reserves `len` zeroed bytes for `file` (fallocate, which also sets the
/// length). Fails on filesystems without it; the caller then appends to an
/// empty file, which is only slower.
#[cfg(target_os = "linux")]
fn reserve(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: fallocate only reads its integer arguments; the fd is open
    // for writing and owned by `file` for the whole call.
    match unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve(_file: &File, _len: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// How a [`MemDir`] crash treats bytes written since the last sync.
#[derive(Clone, Copy, Debug)]
pub enum Tear {
    /// All of them are lost.
    DropUnsynced,
    /// The first `keep` of them survive (a write cut short).
    KeepPrefix { keep: usize },
    /// The first `keep` survive and the next `garbage` bytes are noise (a
    /// sector written half, or with stale content).
    Garbage { keep: usize, garbage: usize },
}

/// A [`MemDir`] reserves at most this much per file: enough to leave a
/// zero tail behind records, small enough to keep crash tests fast.
const MEM_PREALLOCATE_MAX: usize = 4096;

#[derive(Clone, Default)]
struct MemFile {
    /// Bytes written, in order.
    data: Vec<u8>,
    synced_len: usize,
    /// Reserved length: reads see zeros past `data` up to here.
    preallocated: usize,
}

impl MemFile {
    /// The file's content as a reader sees it.
    fn content(&self) -> Vec<u8> {
        let mut content = self.data.clone();
        if content.len() < self.preallocated {
            content.resize(self.preallocated, 0);
        }
        content
    }
}

/// An in-memory directory whose [`MemDir::crash`] loses unsynced writes.
#[derive(Clone, Default)]
pub struct MemDir {
    files: Arc<Mutex<BTreeMap<String, MemFile>>>,
}

impl MemDir {
    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MemFile>> {
        self.files
            .lock()
            .expect("no MemDir user panics while holding the lock")
    }

    /// Simulates a power cut: each file keeps its synced bytes, and the
    /// unsynced rest is treated as `tear` says.
    pub fn crash(&self, tear: Tear) {
        for file in self.files().values_mut() {
            let unsynced = file.data.len() - file.synced_len;
            let (keep, garbage) = match tear {
                Tear::DropUnsynced => (0, 0),
                Tear::KeepPrefix { keep } => (keep.min(unsynced), 0),
                Tear::Garbage { keep, garbage } => {
                    let keep = keep.min(unsynced);
                    (keep, garbage.min(unsynced - keep))
                }
            };
            let end = file.synced_len + keep;
            for (offset, byte) in file.data[end..end + garbage].iter_mut().enumerate() {
                *byte = (offset as u8).wrapping_mul(151).wrapping_add(7);
            }
            file.data.truncate(end + garbage);
            file.synced_len = file.data.len();
        }
    }

    /// A separate directory holding the same files, synced or not: one
    /// taken in the middle of a write and then crashed is what a crash at
    /// that point leaves.
    pub fn copy(&self) -> MemDir {
        MemDir {
            files: Arc::new(Mutex::new(self.files().clone())),
        }
    }

    /// Overwrites bytes of a file, durably (to simulate disk corruption).
    pub fn corrupt(&self, name: &str, offset: usize, bytes: &[u8]) {
        let mut files = self.files();
        let file = files
            .get_mut(name)
            .expect("the test corrupts a file it wrote");
        let end = offset + bytes.len();
        if file.data.len() < end {
            file.data.resize(end, 0); // into the reserved zeros
            file.synced_len = end;
        }
        file.data[offset..end].copy_from_slice(bytes);
    }

    /// The length a reader sees, reserved zeros included.
    pub fn len(&self, name: &str) -> Option<usize> {
        self.files()
            .get(name)
            .map(|file| file.data.len().max(file.preallocated))
    }
}

struct MemAppendFile {
    dir: MemDir,
    name: String,
}

impl AppendFile for MemAppendFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut files = self.dir.files();
        let file = files.get_mut(&self.name).ok_or(io::ErrorKind::NotFound)?;
        file.data.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut files = self.dir.files();
        let file = files.get_mut(&self.name).ok_or(io::ErrorKind::NotFound)?;
        file.synced_len = file.data.len();
        Ok(())
    }

    fn trim(&mut self) -> io::Result<()> {
        let mut files = self.dir.files();
        let file = files.get_mut(&self.name).ok_or(io::ErrorKind::NotFound)?;
        file.preallocated = 0;
        Ok(())
    }
}

/// A [`MemDir`] file being filled by [`Dir::write_atomic`].
struct MemNewFile {
    dir: MemDir,
    name: String,
    position: u64,
}

impl Write for MemNewFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut files = self.dir.files();
        let file = files.get_mut(&self.name).ok_or(io::ErrorKind::NotFound)?;
        let start = usize::try_from(self.position).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start + bytes.len();
        if file.data.len() < end {
            file.data.resize(end, 0); // past the end, a gap reads as zeros
        }
        file.data[start..end].copy_from_slice(bytes);
        self.position = end as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for MemNewFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self
            .dir
            .files()
            .get(&self.name)
            .ok_or(io::ErrorKind::NotFound)?
            .data
            .len() as u64;
        let position = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(offset) => len.checked_add_signed(offset),
            SeekFrom::Current(offset) => self.position.checked_add_signed(offset),
        };
        self.position = position.ok_or(io::ErrorKind::InvalidInput)?;
        Ok(self.position)
    }
}

impl Dir for MemDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files().keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let files = self.files();
        let file = files.get(name).ok_or(io::ErrorKind::NotFound)?;
        Ok(file.content())
    }

    fn create(&self, name: &str, preallocate: u64) -> io::Result<Box<dyn AppendFile>> {
        let file = MemFile {
            preallocated: usize::try_from(preallocate)
                .unwrap_or(usize::MAX)
                .min(MEM_PREALLOCATE_MAX),
            ..MemFile::default()
        };
        self.files().insert(name.to_owned(), file);
        Ok(Box::new(MemAppendFile {
            dir: self.clone(),
            name: name.to_owned(),
        }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut files = self.files();
        let file = files.get_mut(name).ok_or(io::ErrorKind::NotFound)?;
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        file.data.resize(len, 0);
        file.synced_len = len;
        file.preallocated = len;
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files().remove(name).ok_or(io::ErrorKind::NotFound)?;
        Ok(())
    }

    fn write_atomic(&self, name: &str, fill: Fill) -> io::Result<()> {
        let temporary = format!("{name}.tmp");
        self.files().insert(temporary.clone(), MemFile::default());
        let mut file = MemNewFile {
            dir: self.clone(),
            name: temporary.clone(),
            position: 0,
        };
        let filled = fill(&mut file);
        let mut files = self.files();
        // Renamed into place below, or removed after a failure.
        let mut written = files.remove(&temporary).ok_or(io::ErrorKind::NotFound)?;
        filled?;
        written.synced_len = written.data.len();
        files.insert(name.to_owned(), written);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }
}
