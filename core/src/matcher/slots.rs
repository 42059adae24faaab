//! A persistent vector in chunks of 64: reading a slot is two loads, and
//! changing one copies the chunk list (one pointer per 64 slots) and one chunk
//! when they are shared with a published snapshot.

use std::sync::Arc;

const CHUNK: usize = 64;

type Chunk<T> = [Option<T>; CHUNK];

#[derive(Clone, Debug)]
pub(crate) struct Slots<T: Clone> {
    chunks: Arc<Vec<Arc<Chunk<T>>>>,
    len: u32,
}

impl<T: Clone> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            chunks: Arc::new(Vec::new()),
            len: 0,
        }
    }
}

impl<T: Clone> Slots<T> {
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        let slot = slot as usize;
        self.chunks.get(slot / CHUNK)?[slot % CHUNK].as_ref()
    }

    /// A new, empty slot.
    pub(crate) fn push(&mut self) -> u32 {
        let slot = self.len;
        if slot as usize % CHUNK == 0 {
            Arc::make_mut(&mut self.chunks).push(Arc::new(std::array::from_fn(|_| None)));
        }
        self.len += 1;
        slot
    }

    /// Every filled slot.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter().flatten())
    }

    pub(crate) fn set(&mut self, slot: u32, value: Option<T>) {
        let slot = slot as usize;
        let chunks = Arc::make_mut(&mut self.chunks);
        if let Some(chunk) = chunks.get_mut(slot / CHUNK) {
            Arc::make_mut(chunk)[slot % CHUNK] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_snapshots() {
        let mut s: Slots<u32> = Slots::default();
        let slots: Vec<u32> = (0..200).map(|_| s.push()).collect();
        assert_eq!(slots[199], 199);
        for &i in &slots {
            s.set(i, Some(i * 2));
        }
        let snapshot = s.clone();
        s.set(130, None);
        s.set(5, Some(1));
        assert_eq!(s.get(130), None);
        assert_eq!(s.get(5), Some(&1));
        assert_eq!(snapshot.get(130), Some(&260));
        assert_eq!(snapshot.get(5), Some(&10));
        assert_eq!(s.get(200), None);
        assert_eq!(s.get(10_000), None);
    }
}
