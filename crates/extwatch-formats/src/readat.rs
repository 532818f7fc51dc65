//! Positioned reads: the only way image parsers see bytes.
//!
//! A `ReadAt` never moves a shared cursor, so one open file can serve several readers (and threads)
//! at once, and a [`Window`] turns a partition of a disk image into an image of its own.

use std::io;
use std::sync::Arc;

/// Random-access, read-only byte source.
pub trait ReadAt: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Total size in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` completely from `offset`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(offset, buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("unexpected end of image at offset {offset}"),
                    ))
                }
                Ok(n) => {
                    offset += n as u64;
                    let Some(rest) = std::mem::take(&mut buf).get_mut(n..) else {
                        return Err(io::Error::other(
                            "read_at returned more bytes than asked for",
                        ));
                    };
                    buf = rest;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl ReadAt for std::fs::File {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

impl ReadAt for &[u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= self.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.len() - start);
        let (Some(dst), Some(src)) = (buf.get_mut(..n), self.get(start..start + n)) else {
            return Ok(0); // unreachable: n fits both
        };
        dst.copy_from_slice(src);
        Ok(n)
    }
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn size(&self) -> u64 {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn size(&self) -> u64 {
        (**self).size()
    }
}

/// A byte range of another source (a GPT partition), clamped to the source's size.
#[derive(Clone)]
pub struct Window {
    inner: Arc<dyn ReadAt>,
    start: u64,
    len: u64,
}

impl Window {
    /// The range `start..start+len` of `inner`, clamped to what `inner` holds.
    pub fn new(inner: Arc<dyn ReadAt>, start: u64, len: u64) -> Self {
        let total = inner.size();
        let start = start.min(total);
        let len = len.min(total - start);
        Window { inner, start, len }
    }
}

impl ReadAt for Window {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.len - offset) as usize;
        self.inner
            .read_at(self.start + offset, buf.get_mut(..n).unwrap_or_default())
    }
    fn size(&self) -> u64 {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_clamps_to_source() {
        let data: Arc<dyn ReadAt> = Arc::new((0u8..100).collect::<Vec<u8>>());
        let w = Window::new(data.clone(), 90, 50);
        assert_eq!(w.size(), 10);
        let mut buf = [0u8; 20];
        assert_eq!(w.read_at(0, &mut buf).unwrap(), 10);
        assert_eq!(&buf[..3], &[90, 91, 92]);
        assert_eq!(w.read_at(10, &mut buf).unwrap(), 0);
        let far = Window::new(data, u64::MAX, 5);
        assert_eq!(far.size(), 0);
    }

    #[test]
    fn read_exact_reports_eof() {
        let data: Vec<u8> = vec![1, 2, 3];
        let mut buf = [0u8; 4];
        let err = data.read_exact_at(0, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        data.read_exact_at(1, &mut buf[..2]).unwrap();
        assert_eq!(&buf[..2], &[2, 3]);
    }
}
