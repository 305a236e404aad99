//! WAL files mapped instead of read at recovery: a snapshot may hold
//! gigabytes, and reading it into a buffer would first have the kernel
//! zero that much fresh memory, then copy the file into it, which took a
//! third of recovery (segments, 64 MiB each, likewise added up). A
//! mapping shares the page cache instead.

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::os::fd::AsRawFd;

/// A whole file's content, read into memory or mapped.
pub enum FileBytes {
    Read(Vec<u8>),
    Mapped(Mapping),
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Read(bytes) => bytes,
            FileBytes::Mapped(mapping) => mapping.bytes(),
        }
    }
}

/// A read-only, private mapping of a whole file, unmapped on drop.
pub struct Mapping {
    address: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only memory owned by this value alone.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl FileBytes {
    /// Maps `file`, which must not be written or truncated while the
    /// result lives (touching a page past a new end would be a SIGBUS).
    /// Only recovery maps, and it writes nothing while it reads: snapshots
    /// are never written once renamed into place, a torn segment is
    /// truncated only after its mapping is dropped, and removing a file
    /// leaves its mapped pages valid. The data directory is locked, so no
    /// other server writes to it. An empty file is read, not mapped.
    pub fn map(file: &File) -> io::Result<FileBytes> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("a file larger than the address space"))?;
        if len == 0 {
            return Ok(FileBytes::Read(Vec::new()));
        }
        // SAFETY: a fresh read-only private mapping of `len` bytes of an
        // open file; the kernel picks the address. MAP_POPULATE reads the
        // whole file in now, with read-ahead, instead of page by page.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(FileBytes::Mapped(Mapping { address, len }))
    }
}

impl Mapping {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `address` maps `len` readable bytes until `drop`, and
        // nothing writes to them (see `FileBytes::map`).
        unsafe { std::slice::from_raw_parts(self.address as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `FileBytes::map`,
        // once; no borrow of its bytes outlives `self`.
        unsafe {
            libc::munmap(self.address, self.len);
        }
    }
}
