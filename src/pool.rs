//! A small cache of large output buffers.
//!
//! A fresh large allocation comes from `mmap`, and every page of it faults on first write: at
//! 1.6e7 float32 elements that cost more than the kernel itself (sigmoid: 1.95 against 0.23
//! ns/element with `out=`, measured on the 2-core machine). Buffers of 1 MiB or more are
//! therefore kept when their array is freed and handed out again for the next result of a
//! similar size, with their pages already mapped. At most [`capacity`] bytes are kept
//! (`NONLIN_BUFFER_CACHE_MB`, default 1024; 0 turns the cache off).

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

/// Buffers below this size come from the ordinary allocator and are not kept.
pub const MIN_POOLED: usize = 1 << 20;
const ALIGN: usize = 64;
const MAX_BUFFERS: usize = 16;

/// An owned, 64-byte aligned allocation of `bytes` bytes (uninitialized).
pub struct Buffer {
    ptr: NonNull<u8>,
    bytes: usize,
}

// An owned allocation with no interior mutability.
unsafe impl Send for Buffer {}
unsafe impl Sync for Buffer {}

impl Buffer {
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.bytes
    }
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }
    fn layout(bytes: usize) -> Option<Layout> {
        Layout::from_size_align(bytes.max(1), ALIGN).ok()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // The layout was valid when the buffer was allocated.
        unsafe { dealloc(self.ptr.as_ptr(), Buffer::layout(self.bytes).unwrap()) }
    }
}

struct Cache {
    buffers: Vec<Buffer>, // oldest first
    bytes: usize,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    buffers: Vec::new(),
    bytes: 0,
});

/// Bytes the cache may keep.
pub fn capacity() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        crate::env::buffer_cache_mb()
            .unwrap_or(1024)
            .saturating_mul(1 << 20)
    })
}

/// A buffer of at least `bytes` bytes: a cached one of at most twice that size, or a new one;
/// `None` where the allocation fails (the caller raises MemoryError, as NumPy does).
pub fn take(bytes: usize) -> Option<Buffer> {
    if bytes >= MIN_POOLED {
        let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let best = (0..c.buffers.len())
            .filter(|&i| (bytes..=2 * bytes).contains(&c.buffers[i].bytes))
            .min_by_key(|&i| c.buffers[i].bytes);
        if let Some(i) = best {
            let b = c.buffers.remove(i);
            c.bytes -= b.bytes;
            return Some(b);
        }
    }
    let ptr = NonNull::new(unsafe { alloc(Buffer::layout(bytes)?) })?;
    Some(Buffer { ptr, bytes })
}

/// Returns a buffer: kept if it is large and fits, otherwise freed. The oldest buffers make room.
pub fn give(b: Buffer) {
    let cap = capacity();
    if b.bytes < MIN_POOLED || b.bytes > cap {
        return;
    }
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    while !c.buffers.is_empty() && (c.bytes + b.bytes > cap || c.buffers.len() >= MAX_BUFFERS) {
        let old = c.buffers.remove(0);
        c.bytes -= old.bytes;
    }
    c.bytes += b.bytes;
    c.buffers.push(b);
}

/// Frees every cached buffer; returns the bytes released.
pub fn clear() -> usize {
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let n = c.bytes;
    c.buffers.clear();
    c.bytes = 0;
    n
}

/// Bytes held by the cache now.
pub fn cached_bytes() -> usize {
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_returned_buffer_of_similar_size() {
        let a = take(3 << 20).unwrap();
        let p = a.as_ptr();
        give(a);
        let b = take(2 << 20).unwrap(); // fits: 3 MiB is at most twice 2 MiB
        assert_eq!(b.as_ptr(), p);
        assert!(b.len() >= 2 << 20);
        let c = take(1 << 20).unwrap(); // 3 MiB would waste more than half: a new one
        assert_ne!(c.as_ptr(), p);
        assert_eq!(p as usize % ALIGN, 0);
        give(b);
        give(c);
        assert!(cached_bytes() >= 4 << 20);
        assert!(clear() >= 4 << 20);
        assert_eq!(cached_bytes(), 0);
    }

    #[test]
    fn an_impossible_size_is_none() {
        assert!(take(isize::MAX as usize).is_none());
        assert!(take(1 << 62).is_none());
    }
}
