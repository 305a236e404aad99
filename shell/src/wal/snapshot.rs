//! Writing a snapshot file (the format is in `names`). The state, about
//! the size of every retained payload, is never whole in memory: it
//! streams from its encoder through a buffer into the file, checksummed on
//! the way, and the header, which holds that checksum, is written last over
//! a placeholder at the start.

use std::io::{self, BufWriter, SeekFrom, Write};
use std::sync::Arc;

use super::dir::{Dir, NewFile};
use super::names::{self, SNAPSHOT_HEADER_LEN};

/// The encoder's output gathers in a buffer this large before it goes to
/// the file: few enough writes (and checksum calls) for gigabytes, and
/// little memory next to the state.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// A snapshot to write, possibly on another thread: it touches only its
/// own file.
pub struct SnapshotJob {
    dir: Arc<dyn Dir>,
    lsn: u64,
}

impl SnapshotJob {
    pub(super) fn new(dir: Arc<dyn Dir>, lsn: u64) -> Self {
        SnapshotJob { dir, lsn }
    }

    /// Writes the snapshot atomically, the state being what `encode`
    /// writes; returns the state's length in bytes. If `encode` fails, so
    /// does the snapshot, and no file of it is left.
    pub fn write(
        &self,
        mut encode: impl FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut state_len = 0;
        self.dir
            .write_atomic(&names::snapshot(self.lsn), &mut |file| {
                state_len = write_file(file, self.lsn, &mut encode)?;
                Ok(())
            })?;
        Ok(state_len)
    }

    pub fn lsn(&self) -> u64 {
        self.lsn
    }
}

/// Fills a fresh snapshot file: a placeholder header, the state, then the
/// real header over the placeholder. Returns the state's length.
fn write_file(
    file: &mut dyn NewFile,
    lsn: u64,
    encode: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<u64> {
    file.write_all(&[0; SNAPSHOT_HEADER_LEN])?;
    let mut buffered = BufWriter::with_capacity(WRITE_BUFFER_BYTES, Checksummed::new(&mut *file));
    encode(&mut buffered)?;
    let state = buffered
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    let (state_crc, state_len) = (state.crc, state.len);
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&names::snapshot_header(lsn, state_crc))?;
    Ok(state_len)
}

/// Passes bytes on, keeping the CRC32C and the count of those taken.
struct Checksummed<W> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W: Write> Checksummed<W> {
    fn new(inner: W) -> Self {
        Checksummed {
            inner,
            crc: 0,
            len: 0,
        }
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let taken = self.inner.write(bytes)?;
        self.crc = crc32c::crc32c_append(self.crc, &bytes[..taken]);
        self.len += taken as u64;
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
