//! A persistent radix tree over bytes.
//!
//! Nodes are shared through `Arc`; a change copies only the nodes on the path to
//! the changed key that are still shared with a published snapshot
//! (`Arc::make_mut`), so a write costs O(depth) whatever the tree's size, and a
//! batch of writes to an unpublished tree copies each node at most once.

use std::sync::Arc;

/// A radix tree mapping byte strings to values of type `V`.
#[derive(Clone, Debug)]
pub(crate) struct Trie<V: Clone> {
    root: Arc<Node<V>>,
    len: usize,
}

#[derive(Clone, Debug)]
struct Node<V: Clone> {
    /// The edge label leading to this node (empty for the root).
    label: Box<[u8]>,
    /// The first byte of each child's label, in ascending order.
    index: Vec<u8>,
    children: Vec<Arc<Node<V>>>,
    value: Option<V>,
}

impl<V: Clone> Node<V> {
    fn child(&self, byte: u8) -> Option<&Arc<Node<V>>> {
        // Children are few per node in practice; a linear scan over the index
        // bytes beats a binary search up to a few dozen.
        let i = self.index.iter().position(|&b| b == byte)?;
        Some(&self.children[i])
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<V: Clone> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            root: Arc::new(Node {
                label: Box::new([]),
                index: Vec::new(),
                children: Vec::new(),
                value: None,
            }),
            len: 0,
        }
    }
}

impl<V: Clone> Trie<V> {
    /// The number of keys with a value.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The value stored at exactly `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        let mut node = &*self.root;
        let mut rest = key;
        loop {
            if rest.is_empty() {
                return node.value.as_ref();
            }
            let child = node.child(rest[0])?;
            if !rest.starts_with(&child.label) {
                return None;
            }
            rest = &rest[child.label.len()..];
            node = child;
        }
    }

    /// Calls `f(depth, value)` for every stored key that is a prefix of `key`,
    /// shortest first (`depth` is the key's length).
    #[inline]
    pub(crate) fn for_each_prefix<'a>(&'a self, key: &[u8], mut f: impl FnMut(usize, &'a V)) {
        let mut node = &*self.root;
        let mut depth = 0;
        loop {
            if let Some(v) = &node.value {
                f(depth, v);
            }
            let Some(&byte) = key.get(depth) else {
                return;
            };
            let Some(child) = node.child(byte) else {
                return;
            };
            if !key[depth..].starts_with(&child.label) {
                return;
            }
            depth += child.label.len();
            node = child;
        }
    }

    /// The value at `key`, created with `make` if absent, for in-place change.
    pub(crate) fn entry(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        let mut node = Arc::make_mut(&mut self.root);
        let mut rest = key;
        loop {
            if rest.is_empty() {
                if node.value.is_none() {
                    self.len += 1;
                }
                return node.value.get_or_insert_with(make);
            }
            let byte = rest[0];
            let i = match node.index.iter().position(|&b| b == byte) {
                Some(i) => i,
                None => {
                    // No child starts with this byte: add an empty leaf for the
                    // rest of the key; the next turn of the loop fills it.
                    let at = node.index.partition_point(|&b| b < byte);
                    node.index.insert(at, byte);
                    node.children.insert(
                        at,
                        Arc::new(Node {
                            label: rest.into(),
                            index: Vec::new(),
                            children: Vec::new(),
                            value: None,
                        }),
                    );
                    at
                }
            };
            let child = Arc::make_mut(&mut node.children[i]);
            let shared = common_prefix(&child.label, rest);
            if shared < child.label.len() {
                // Split the child's label: a new inner node takes the shared part.
                let tail = Node {
                    label: child.label[shared..].into(),
                    index: std::mem::take(&mut child.index),
                    children: std::mem::take(&mut child.children),
                    value: child.value.take(),
                };
                child.label = rest[..shared].into();
                child.index = vec![tail.label[0]];
                child.children = vec![Arc::new(tail)];
            }
            rest = &rest[shared..];
            node = child;
        }
    }

    /// Removes the value at `key` and returns it; nodes left without a value or
    /// children are pruned and single-child inner nodes merged.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<V> {
        // Check first, so that a miss copies nothing.
        self.get(key)?;
        let removed = remove_in(Arc::make_mut(&mut self.root), key);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }
}

fn remove_in<V: Clone>(node: &mut Node<V>, rest: &[u8]) -> Option<V> {
    if rest.is_empty() {
        return node.value.take();
    }
    let i = node.index.iter().position(|&b| b == rest[0])?;
    let child = Arc::make_mut(&mut node.children[i]);
    let label_len = child.label.len();
    let removed = remove_in(child, &rest[label_len..]);
    if removed.is_some() {
        if child.value.is_none() && child.children.is_empty() {
            node.index.remove(i);
            node.children.remove(i);
        } else if child.value.is_none() && child.children.len() == 1 {
            // Merge the only grandchild into the child.
            let grandchild = child.children.pop().expect("one child");
            child.index.clear();
            let grandchild = Arc::unwrap_or_clone(grandchild);
            let mut label = child.label.to_vec();
            label.extend_from_slice(&grandchild.label);
            child.label = label.into();
            child.index = grandchild.index;
            child.children = grandchild.children;
            child.value = grandchild.value;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(t: &Trie<u32>, key: &str) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        t.for_each_prefix(key.as_bytes(), |d, v| out.push((d, *v)));
        out
    }

    #[test]
    fn insert_lookup_prefixes() {
        let mut t = Trie::default();
        for (i, k) in ["/", "/foo", "/foobar", "/foo/bar", "/fa", ""]
            .iter()
            .enumerate()
        {
            *t.entry(k.as_bytes(), || 0) = i as u32 + 1;
        }
        assert_eq!(t.len(), 6);
        assert_eq!(t.get(b"/foo"), Some(&2));
        assert_eq!(t.get(b"/fo"), None);
        assert_eq!(t.get(b""), Some(&6));
        assert_eq!(
            prefixes(&t, "/foo/bar/baz"),
            [(0, 6), (1, 1), (4, 2), (8, 4)]
        );
        assert_eq!(prefixes(&t, "/foobarx"), [(0, 6), (1, 1), (4, 2), (7, 3)]);
        assert_eq!(prefixes(&t, "/f"), [(0, 6), (1, 1)]);
        assert_eq!(prefixes(&t, "x"), [(0, 6)]);
    }

    #[test]
    fn remove_prunes_and_merges() {
        let mut t = Trie::default();
        for k in ["/a", "/ab", "/abc", "/abd"] {
            *t.entry(k.as_bytes(), || 0) += 1;
        }
        assert_eq!(t.remove(b"/ab"), Some(1));
        assert_eq!(t.remove(b"/ab"), None);
        assert_eq!(t.remove(b"/zz"), None);
        assert_eq!(prefixes(&t, "/abc"), [(2, 1), (4, 1)]);
        assert_eq!(t.remove(b"/abc"), Some(1));
        assert_eq!(t.remove(b"/a"), Some(1));
        assert_eq!(prefixes(&t, "/abd"), [(4, 1)]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn snapshots_are_unaffected_by_later_writes() {
        let mut t = Trie::default();
        *t.entry(b"/api/v1", || 0) = 1;
        let snapshot = t.clone();
        *t.entry(b"/api/v2", || 0) = 2;
        *t.entry(b"/api/v1", || 0) = 10;
        t.remove(b"/api/v2");
        assert_eq!(snapshot.get(b"/api/v1"), Some(&1));
        assert_eq!(snapshot.get(b"/api/v2"), None);
        assert_eq!(t.get(b"/api/v1"), Some(&10));
    }

    #[test]
    fn matches_a_model_on_random_operations() {
        use std::collections::BTreeMap;
        let mut t: Trie<u32> = Trie::default();
        let mut model = BTreeMap::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let alphabet = [b"/".as_slice(), b"a", b"b", b"ab", b"/a"];
        for step in 0..4000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut key = Vec::new();
            for i in 0..(seed % 5) {
                key.extend_from_slice(alphabet[((seed >> (8 * i + 3)) % 5) as usize]);
            }
            if seed % 3 == 0 {
                assert_eq!(t.remove(&key), model.remove(&key), "step {step}");
            } else {
                *t.entry(&key, || 0) = step;
                model.insert(key.clone(), step);
            }
            assert_eq!(t.len(), model.len());
            let probe = &key;
            let mut got = Vec::new();
            t.for_each_prefix(probe, |d, v| got.push((d, *v)));
            let want: Vec<(usize, u32)> = (0..=probe.len())
                .filter_map(|d| model.get(&probe[..d]).map(|v| (d, *v)))
                .collect();
            assert_eq!(got, want, "step {step}");
        }
    }
}
