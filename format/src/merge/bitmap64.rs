//! Paimon's `rbm64` values: Java RoaringBitmap's `Roaring64Bitmap` as its
//! `serialize(DataOutput)` writes it, and the union Paimon's `FieldRoaringBitmap64Agg`
//! computes (deserialize both, `acc.or(input)`, `runOptimize()`, serialize).
//!
//! That format (RoaringBitmap 1.2.1, the version Paimon 1.4 ships) is not the portable
//! 64-bit roaring format: it dumps the in-memory adaptive radix tree (ART) over the high 48
//! bits of the values, node by node, and then the container store as it sits in memory,
//! with spare capacity, insertion order and the allocator's cursors. The bytes therefore
//! depend on the history of the bitmap, not only on its values. To give the same bytes as
//! Paimon, this module keeps every serialized field as read and replays what Java does to
//! them: inserting a new high key into the tree (node splits and Node4 → 16 → 48 → 256
//! growth), appending its container to the store, and choosing each container's kind
//! (array, bitmap, run) the way Java's container unions and `runOptimize` do.
//!
//! Layout (all integers little-endian): a tag byte (0 empty, 1 not); the tree: key count
//! (i64) then the nodes in pre-order, each `type (u8: 0 Node4, 1 Node16, 2 Node48,
//! 3 Node256, 4 leaf), count (i16), prefix length (u8), prefix` and a body (Node4: 4 key
//! bytes, Node16: 16, each group of 8 — 4 for Node4 — reversed; Node48: 256 child-slot
//! bytes by key, groups of 8 reversed; Node256: 4 u64 presence masks; leaf: 6 key bytes
//! big-endian then the container index, i64); then the containers: array count (i32, 1 in
//! practice), per array `0xFE`, its capacity (i32) and per slot `0` (empty) or `1, kind
//! (0 run, 1 bitmap, 2 array), cardinality (i32), payload`; then the container count (i64)
//! and the two cursors (i32, i32).
//!
//! Input that Java could not have written (inconsistent counts, unsorted keys, leaves off
//! their path, containers shared or missing) is rejected with an error.

use std::collections::HashMap;

use crate::error::{Error, Result};

const NODE4: u8 = 0;
const NODE16: u8 = 1;
const NODE48: u8 = 2;
const NODE256: u8 = 3;
const LEAF: u8 = 4;
const KEY_LEN: usize = 6;
/// Java's `ArrayContainer.DEFAULT_MAX_SIZE`.
const ARRAY_MAX: usize = 4096;
const BITMAP_BYTES: usize = 8192;
const WORDS: usize = 1024;

/// `acc ∪ input` as Paimon's `rbm64` aggregate serializes it.
pub(crate) fn union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    let mut a = Bitmap64::decode(acc)?;
    let b = Bitmap64::decode(input)?;
    a.or(&b);
    a.run_optimize();
    Ok(a.encode())
}

/// The values of a serialized bitmap, ascending.
#[cfg(test)]
pub(crate) fn values(bytes: &[u8]) -> Result<Vec<u64>> {
    let b = Bitmap64::decode(bytes)?;
    let mut out = Vec::new();
    for (key, idx) in b.leaves() {
        let high = key.iter().fold(0u64, |v, &k| (v << 8) | u64::from(k));
        let Some(c) = b.containers.get(idx) else {
            continue;
        };
        for low in c.values() {
            out.push((high << 16) | u64::from(low));
        }
    }
    Ok(out)
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::data_invalid(format!(
        "rbm64 value is not a serialized Roaring64Bitmap: {what}"
    ))
}

/// A container of 16-bit values, in the representation Java holds it in.
#[derive(Debug, Clone, PartialEq)]
enum Container {
    /// Sorted values.
    Array(Vec<u16>),
    Bitmap(Box<[u64; WORDS]>),
    /// `(start, length - 1)` runs, as stored (Java keeps adjacent runs it was given).
    Run(Vec<(u16, u16)>),
}

fn bits_of(values: impl Iterator<Item = u32>) -> Box<[u64; WORDS]> {
    let mut w = Box::new([0u64; WORDS]);
    for v in values {
        w[(v >> 6) as usize] |= 1 << (v & 63);
    }
    w
}

fn cardinality(w: &[u64; WORDS]) -> usize {
    w.iter().map(|x| x.count_ones() as usize).sum()
}

/// Maximal runs of a bitmap (whole words at a time where they are empty or full).
fn runs_of(w: &[u64; WORDS]) -> Vec<(u16, u16)> {
    let mut runs = Vec::new();
    let mut start: Option<u32> = None;
    let close = |runs: &mut Vec<(u16, u16)>, s: u32, end: u32| {
        runs.push((s as u16, (end - s) as u16));
    };
    for (i, &word) in w.iter().enumerate() {
        let base = (i as u32) << 6;
        match word {
            0 => {
                if let Some(s) = start.take() {
                    close(&mut runs, s, base - 1);
                }
            }
            u64::MAX => {
                start.get_or_insert(base);
            }
            _ => {
                for b in 0..64 {
                    let set = word >> b & 1 == 1;
                    match (set, start) {
                        (true, None) => start = Some(base + b),
                        (false, Some(s)) => {
                            close(&mut runs, s, base + b - 1);
                            start = None;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if let Some(s) = start {
        close(&mut runs, s, u32::from(u16::MAX));
    }
    runs
}

fn array_of(w: &[u64; WORDS]) -> Vec<u16> {
    let mut out = Vec::new();
    for (i, &word) in w.iter().enumerate() {
        let mut x = word;
        while x != 0 {
            out.push(((i as u32) << 6 | x.trailing_zeros()) as u16);
            x &= x - 1;
        }
    }
    out
}

/// Java's `RunContainer.serializedSizeInBytes`.
fn run_size(runs: usize) -> usize {
    2 + 4 * runs
}

impl Container {
    fn bits(&self) -> Box<[u64; WORDS]> {
        match self {
            Container::Array(v) => bits_of(v.iter().map(|&x| u32::from(x))),
            Container::Bitmap(w) => w.clone(),
            Container::Run(runs) => {
                let mut w = Box::new([0u64; WORDS]);
                for &(s, l) in runs {
                    for v in u32::from(s)..=u32::from(s) + u32::from(l) {
                        w[(v >> 6) as usize] |= 1 << (v & 63);
                    }
                }
                w
            }
        }
    }

    #[cfg(test)]
    fn values(&self) -> Vec<u16> {
        match self {
            Container::Array(v) => v.clone(),
            other => array_of(&other.bits()),
        }
    }

    fn cardinality(&self) -> usize {
        match self {
            Container::Array(v) => v.len(),
            Container::Bitmap(w) => cardinality(w),
            Container::Run(runs) => runs.iter().map(|&(_, l)| usize::from(l) + 1).sum(),
        }
    }

    fn is_full_run(&self) -> bool {
        matches!(self, Container::Run(r) if r.as_slice() == [(0, u16::MAX)])
    }

    /// Java's `RunContainer.toEfficientContainer` of the set `w`.
    fn efficient(w: Box<[u64; WORDS]>) -> Container {
        let runs = runs_of(&w);
        let card = cardinality(&w);
        if run_size(runs.len()) <= BITMAP_BYTES.min(2 + 2 * card) {
            Container::Run(runs)
        } else if card <= ARRAY_MAX {
            Container::Array(array_of(&w))
        } else {
            Container::Bitmap(w)
        }
    }

    /// A bitmap result, or the full run Java returns when every value is set.
    fn bitmap_or_full(w: Box<[u64; WORDS]>) -> Container {
        if cardinality(&w) == 1 << 16 {
            Container::Run(vec![(0, u16::MAX)])
        } else {
            Container::Bitmap(w)
        }
    }

    /// `self.ior(other)`: the result kind Java's container classes give.
    fn ior(self, other: &Container) -> Container {
        use Container::{Array as A, Bitmap as B, Run as R};
        if matches!(self, R(_)) && self.is_full_run() {
            return self;
        }
        let mut w = self.bits();
        for (x, y) in w.iter_mut().zip(other.bits().iter()) {
            *x |= y;
        }
        match (&self, other) {
            (A(_), A(_)) => {
                if cardinality(&w) <= ARRAY_MAX {
                    A(array_of(&w))
                } else {
                    Container::bitmap_or_full(w)
                }
            }
            // BitmapContainer.ior(ArrayContainer) never checks for a full container.
            (B(_), A(_)) => B(w),
            (A(_), R(_)) | (R(_), A(_)) | (R(_), R(_)) => Container::efficient(w),
            _ => Container::bitmap_or_full(w),
        }
    }

    /// Java's `Roaring64Bitmap.runOptimize` for one container: arrays and bitmaps become
    /// runs when that is strictly smaller; runs stay runs.
    fn run_optimize(self) -> Container {
        match self {
            Container::Array(v) => {
                let runs = count_runs(&v);
                if 2 * v.len() > run_size(runs) {
                    Container::Run(runs_of(&bits_of(v.iter().map(|&x| u32::from(x)))))
                } else {
                    Container::Array(v)
                }
            }
            Container::Bitmap(w) => {
                let runs = runs_of(&w);
                if BITMAP_BYTES > run_size(runs.len()) {
                    Container::Run(runs)
                } else {
                    Container::Bitmap(w)
                }
            }
            run => run,
        }
    }
}

fn count_runs(v: &[u16]) -> usize {
    let mut n = 0;
    let mut prev: Option<u16> = None;
    for &x in v {
        if prev.is_none_or(|p| u32::from(p) + 1 != u32::from(x)) {
            n += 1;
        }
        prev = Some(x);
    }
    n
}

/// One tree node with every serialized field as read.
#[derive(Debug, Clone)]
struct Node {
    /// The serialized `count` (kept raw for leaves).
    count: i16,
    prefix: Vec<u8>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Leaf {
        key: [u8; KEY_LEN],
        container: i64,
    },
    /// Key bytes by position (unused positions kept as read) and children by position.
    N4 {
        keys: [u8; 4],
        children: Vec<Node>,
    },
    N16 {
        keys: [u8; 16],
        children: Vec<Node>,
    },
    /// Child slot by key byte (`0xFF` none) and the 48 slots.
    N48 {
        index: Box<[u8; 256]>,
        slots: Vec<Option<Node>>,
    },
    N256 {
        children: Vec<Option<Node>>,
    },
}

impl Node {
    fn leaf(key: [u8; KEY_LEN], container: i64) -> Node {
        Node {
            count: 0,
            prefix: Vec::new(),
            body: Body::Leaf { key, container },
        }
    }

    /// Children in serialization order, with their key bytes.
    fn children(&self) -> Vec<(u8, &Node)> {
        match &self.body {
            Body::Leaf { .. } => Vec::new(),
            Body::N4 { keys, children } => keys.iter().copied().zip(children).collect(),
            Body::N16 { keys, children } => keys.iter().copied().zip(children).collect(),
            Body::N48 { index, slots } => (0..=255u8)
                .filter_map(|k| {
                    let s = index[usize::from(k)];
                    slots.get(usize::from(s))?.as_ref().map(|c| (k, c))
                })
                .collect(),
            Body::N256 { children } => children
                .iter()
                .enumerate()
                .filter_map(|(k, c)| c.as_ref().map(|c| (k as u8, c)))
                .collect(),
        }
    }

    fn child_mut(&mut self, k: u8) -> Option<&mut Node> {
        match &mut self.body {
            Body::Leaf { .. } => None,
            Body::N4 { keys, children } => {
                let n = children.len();
                keys[..n]
                    .iter()
                    .position(|&x| x == k)
                    .map(move |p| &mut children[p])
            }
            Body::N16 { keys, children } => {
                let n = children.len();
                keys[..n]
                    .iter()
                    .position(|&x| x == k)
                    .map(move |p| &mut children[p])
            }
            Body::N48 { index, slots } => match index[usize::from(k)] {
                0xFF => None,
                s => slots.get_mut(usize::from(s))?.as_mut(),
            },
            Body::N256 { children } => children[usize::from(k)].as_mut(),
        }
    }

    /// Java's `Node.insertLeaf`: adds `child` under key byte `k`, growing the node when full.
    fn insert_child(mut self, child: Node, k: u8) -> Node {
        match &mut self.body {
            Body::N4 { keys, children } if children.len() < 4 => {
                let p = keys[..children.len()].iter().filter(|&&x| x < k).count();
                let n = children.len();
                keys.copy_within(p..n, p + 1);
                keys[p] = k;
                children.insert(p, child);
                self.count += 1;
                self
            }
            Body::N4 { keys, children } => {
                let mut k16 = [0u8; 16];
                k16[..4].copy_from_slice(keys);
                let grown = Node {
                    count: 4,
                    prefix: std::mem::take(&mut self.prefix),
                    body: Body::N16 {
                        keys: k16,
                        children: std::mem::take(children),
                    },
                };
                grown.insert_child(child, k)
            }
            Body::N16 { keys, children } if children.len() < 16 => {
                let n = children.len();
                let p = keys[..n].iter().filter(|&&x| x < k).count();
                keys.copy_within(p..n, p + 1);
                keys[p] = k;
                children.insert(p, child);
                self.count += 1;
                self
            }
            Body::N16 { keys, children } => {
                let mut index = Box::new([0xFFu8; 256]);
                let mut slots: Vec<Option<Node>> = vec![None; 48];
                for (i, c) in std::mem::take(children).into_iter().enumerate() {
                    index[usize::from(keys[i])] = i as u8;
                    slots[i] = Some(c);
                }
                let grown = Node {
                    count: 16,
                    prefix: std::mem::take(&mut self.prefix),
                    body: Body::N48 { index, slots },
                };
                grown.insert_child(child, k)
            }
            Body::N48 { index, slots } if self.count < 48 => {
                let mut pos = self.count as usize;
                if slots[pos].is_some() {
                    pos = slots.iter().position(Option::is_none).unwrap_or(pos);
                }
                slots[pos] = Some(child);
                index[usize::from(k)] = pos as u8;
                self.count += 1;
                self
            }
            Body::N48 { index, slots } => {
                let mut children: Vec<Option<Node>> = vec![None; 256];
                for key in 0..256 {
                    let s = index[key];
                    if s != 0xFF {
                        children[key] = slots[usize::from(s)].take();
                    }
                }
                let grown = Node {
                    count: 48,
                    prefix: std::mem::take(&mut self.prefix),
                    body: Body::N256 { children },
                };
                grown.insert_child(child, k)
            }
            Body::N256 { children } => {
                children[usize::from(k)] = Some(child);
                self.count += 1;
                self
            }
            Body::Leaf { .. } => self,
        }
    }
}

/// Java's `Art.insert` of a key known to be absent.
fn insert(node: Option<Node>, key: &[u8; KEY_LEN], depth: usize, idx: i64) -> Node {
    let Some(mut node) = node else {
        return Node::leaf(*key, idx);
    };
    if let Body::Leaf { key: leaf_key, .. } = &node.body {
        let leaf_key = *leaf_key;
        let common = (depth..KEY_LEN)
            .take_while(|&i| leaf_key[i] == key[i])
            .count();
        node.prefix.clear();
        let split = Node {
            count: 0,
            prefix: key[depth..depth + common].to_vec(),
            body: Body::N4 {
                keys: [0; 4],
                children: Vec::new(),
            },
        };
        let split = split.insert_child(node, leaf_key[depth + common]);
        return split.insert_child(Node::leaf(*key, idx), key[depth + common]);
    }
    let pl = node.prefix.len();
    let mismatch = (0..pl).find(|&i| node.prefix[i] != key[depth + i]);
    if let Some(m) = mismatch {
        let split = Node {
            count: 0,
            prefix: node.prefix[..m].to_vec(),
            body: Body::N4 {
                keys: [0; 4],
                children: Vec::new(),
            },
        };
        let byte = node.prefix[m];
        node.prefix = node.prefix[m + 1..].to_vec();
        let split = split.insert_child(node, byte);
        return split.insert_child(Node::leaf(*key, idx), key[depth + m]);
    }
    let depth = depth + pl;
    let k = key[depth];
    if let Some(child) = node.child_mut(k) {
        let taken = std::mem::replace(child, Node::leaf([0; KEY_LEN], 0));
        *child = insert(Some(taken), key, depth + 1, idx);
        return node;
    }
    node.insert_child(Node::leaf(*key, idx), k)
}

/// The container store (`Containers`): one array of slots and Java's cursors.
#[derive(Debug, Clone, Default)]
struct Store {
    /// `None` before the first container (no array yet).
    slots: Option<Vec<Option<Container>>>,
    size: i64,
    first_level: i32,
    second_level: i32,
}

impl Store {
    fn empty() -> Store {
        Store {
            slots: None,
            size: 0,
            first_level: -1,
            second_level: 0,
        }
    }

    fn get(&self, idx: i64) -> Option<&Container> {
        self.slots
            .as_ref()?
            .get(usize::try_from(idx).ok()?)?
            .as_ref()
    }

    fn take(&mut self, idx: i64) -> Option<Container> {
        self.slots
            .as_mut()?
            .get_mut(usize::try_from(idx).ok()?)?
            .take()
    }

    fn put(&mut self, idx: i64, c: Container) {
        if let Some(slot) = self
            .slots
            .as_mut()
            .and_then(|s| s.get_mut(usize::try_from(idx).ok()?))
        {
            *slot = Some(c);
        }
    }

    /// Java's `Containers.addContainer`: next slot, growing the array by half.
    fn add(&mut self, c: Container) -> i64 {
        let slots = match &mut self.slots {
            Some(s) if self.first_level != -1 => {
                self.second_level += 1;
                s
            }
            _ => {
                self.first_level = 0;
                self.second_level = 0;
                self.slots.insert(vec![None])
            }
        };
        let pos = self.second_level as usize;
        if pos + 1 > slots.len() {
            let grown = (slots.len() + (slots.len() >> 1)).max(pos + 1);
            slots.resize(grown, None);
        }
        slots[pos] = Some(c);
        self.size += 1;
        i64::from(self.second_level)
    }
}

#[derive(Debug, Clone)]
struct Bitmap64 {
    key_count: i64,
    root: Option<Node>,
    containers: Store,
    /// High key → container index, for Java's `findByKey`.
    index: HashMap<[u8; KEY_LEN], i64>,
}

impl Bitmap64 {
    fn leaves(&self) -> Vec<([u8; KEY_LEN], i64)> {
        let mut out = Vec::new();
        let mut stack: Vec<&Node> = self.root.iter().collect();
        while let Some(n) = stack.pop() {
            match &n.body {
                Body::Leaf { key, container } => out.push((*key, *container)),
                _ => stack.extend(n.children().into_iter().rev().map(|(_, c)| c)),
            }
        }
        out
    }

    /// Java's `Roaring64Bitmap.or`: the other's keys ascending; a key present here unions
    /// into its container, a new key gets a copy of the other's container.
    fn or(&mut self, other: &Bitmap64) {
        for (key, idx) in other.leaves() {
            let Some(theirs) = other.containers.get(idx) else {
                continue;
            };
            match self.index.get(&key) {
                Some(&mine) => {
                    if let Some(c) = self.containers.take(mine) {
                        self.containers.put(mine, c.ior(theirs));
                    }
                }
                None => {
                    let at = self.containers.add(theirs.clone());
                    self.root = Some(insert(self.root.take(), &key, 0, at));
                    self.key_count = self.key_count.wrapping_add(1);
                    self.index.insert(key, at);
                }
            }
        }
    }

    fn run_optimize(&mut self) {
        if self.containers.size <= 0 {
            return;
        }
        for slot in self.containers.slots.iter_mut().flatten() {
            if let Some(c) = slot.take() {
                *slot = Some(c.run_optimize());
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let Some(root) = &self.root else {
            return vec![0];
        };
        let mut out = vec![1];
        out.extend_from_slice(&self.key_count.to_le_bytes());
        encode_node(root, &mut out);
        let slots: &[Option<Container>] = self.containers.slots.as_deref().unwrap_or(&[]);
        let arrays = i32::from(self.containers.slots.is_some());
        out.extend_from_slice(&arrays.to_le_bytes());
        if self.containers.slots.is_some() {
            out.push(0xFE);
            out.extend_from_slice(&(slots.len() as i32).to_le_bytes());
            for slot in slots {
                match slot {
                    None => out.push(0),
                    Some(c) => encode_container(c, &mut out),
                }
            }
        }
        out.extend_from_slice(&self.containers.size.to_le_bytes());
        out.extend_from_slice(&self.containers.first_level.to_le_bytes());
        out.extend_from_slice(&self.containers.second_level.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Bitmap64> {
        let mut r = Reader { bytes, pos: 0 };
        let empty = Bitmap64 {
            key_count: 0,
            root: None,
            containers: Store::empty(),
            index: HashMap::new(),
        };
        match r.u8()? {
            0 => {
                r.finish()?;
                return Ok(empty);
            }
            1 => {}
            t => return Err(corrupt(format_args!("unknown tag byte {t}"))),
        }
        let key_count = r.i64()?;
        let mut path = Vec::with_capacity(KEY_LEN);
        let mut leaves = Vec::new();
        let root = decode_node(&mut r, &mut path, &mut leaves, 0)?;
        let containers = decode_store(&mut r)?;
        r.finish()?;
        let mut index = HashMap::with_capacity(leaves.len());
        for (key, idx) in leaves {
            if containers.get(idx).is_none() {
                return Err(corrupt(format_args!(
                    "a key refers to missing container {idx}"
                )));
            }
            if index.values().any(|&i| i == idx) || index.insert(key, idx).is_some() {
                return Err(corrupt("two keys share a container or a key repeats"));
            }
        }
        let live = containers.slots.iter().flatten().flatten().count();
        if key_count != index.len() as i64 || containers.size != live as i64 {
            return Err(corrupt(
                "key or container counts disagree with the contents",
            ));
        }
        Ok(Bitmap64 {
            key_count,
            root: Some(root),
            containers,
            index,
        })
    }
}

fn encode_node(n: &Node, out: &mut Vec<u8>) {
    let kind = match &n.body {
        Body::N4 { .. } => NODE4,
        Body::N16 { .. } => NODE16,
        Body::N48 { .. } => NODE48,
        Body::N256 { .. } => NODE256,
        Body::Leaf { .. } => LEAF,
    };
    out.push(kind);
    out.extend_from_slice(&n.count.to_le_bytes());
    out.push(n.prefix.len() as u8);
    out.extend_from_slice(&n.prefix);
    match &n.body {
        Body::Leaf { key, container } => {
            out.extend_from_slice(key);
            out.extend_from_slice(&container.to_le_bytes());
        }
        Body::N4 { keys, .. } => out.extend(keys.iter().rev()),
        Body::N16 { keys, .. } => {
            out.extend(keys[..8].iter().rev());
            out.extend(keys[8..].iter().rev());
        }
        Body::N48 { index, .. } => {
            for group in index.chunks(8) {
                out.extend(group.iter().rev());
            }
        }
        Body::N256 { children } => {
            for group in children.chunks(64) {
                let mask = group
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_some())
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                out.extend_from_slice(&mask.to_le_bytes());
            }
        }
    }
    for (_, c) in n.children() {
        encode_node(c, out);
    }
}

fn encode_container(c: &Container, out: &mut Vec<u8>) {
    out.push(1);
    let kind = match c {
        Container::Run(_) => 0u8,
        Container::Bitmap(_) => 1,
        Container::Array(_) => 2,
    };
    out.push(kind);
    out.extend_from_slice(&(c.cardinality() as i32).to_le_bytes());
    match c {
        Container::Array(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Container::Bitmap(w) => w
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Container::Run(runs) => {
            out.extend_from_slice(&(runs.len() as u16).to_le_bytes());
            for (s, l) in runs {
                out.extend_from_slice(&s.to_le_bytes());
                out.extend_from_slice(&l.to_le_bytes());
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt("truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(corrupt(format_args!("{} trailing bytes", self.remaining())));
        }
        Ok(())
    }
}

/// Reads a node at `depth` key bytes below the root; `path` holds the key bytes so far.
fn decode_node(
    r: &mut Reader<'_>,
    path: &mut Vec<u8>,
    leaves: &mut Vec<([u8; KEY_LEN], i64)>,
    depth: usize,
) -> Result<Node> {
    let kind = r.u8()?;
    let count = i16::from_le_bytes(r.array()?);
    let prefix_len = r.u8()?;
    if prefix_len > 127 {
        return Err(corrupt("negative prefix length"));
    }
    let prefix = r.take(usize::from(prefix_len))?.to_vec();
    if kind == LEAF {
        let key: [u8; KEY_LEN] = r.array()?;
        let container = r.i64()?;
        if key[..path.len()] != path[..] {
            return Err(corrupt("a leaf is not under its key's path"));
        }
        leaves.push((key, container));
        return Ok(Node {
            count,
            prefix,
            body: Body::Leaf { key, container },
        });
    }
    let child_depth = depth + prefix.len() + 1;
    if child_depth > KEY_LEN {
        return Err(corrupt("the tree is deeper than 48-bit keys"));
    }
    let n = usize::try_from(count).map_err(|_| corrupt("negative child count"))?;
    let mut read_children = |r: &mut Reader<'_>, keys: &[u8]| -> Result<Vec<Node>> {
        let mut out = Vec::with_capacity(keys.len());
        for &k in keys {
            let mark = path.len();
            path.extend_from_slice(&prefix);
            path.push(k);
            out.push(decode_node(r, path, leaves, child_depth)?);
            path.truncate(mark);
        }
        Ok(out)
    };
    let sorted = |keys: &[u8]| keys.windows(2).all(|w| w[0] < w[1]);
    let body = match kind {
        NODE4 => {
            let mut keys: [u8; 4] = r.array()?;
            keys.reverse();
            if n == 0 || n > 4 || !sorted(&keys[..n]) {
                return Err(corrupt("bad Node4"));
            }
            let children = read_children(r, &keys[..n])?;
            Body::N4 { keys, children }
        }
        NODE16 => {
            let mut keys: [u8; 16] = r.array()?;
            keys[..8].reverse();
            keys[8..].reverse();
            if n == 0 || n > 16 || !sorted(&keys[..n]) {
                return Err(corrupt("bad Node16"));
            }
            let children = read_children(r, &keys[..n])?;
            Body::N16 { keys, children }
        }
        NODE48 => {
            let mut index: Box<[u8; 256]> = Box::new(r.array()?);
            for group in index.chunks_mut(8) {
                group.reverse();
            }
            let used: Vec<(u8, u8)> = (0..=255u8)
                .map(|k| (k, index[usize::from(k)]))
                .filter(|&(_, s)| s != 0xFF)
                .collect();
            let mut seen = [false; 48];
            for &(_, s) in &used {
                if s >= 48 || std::mem::replace(&mut seen[usize::from(s)], true) {
                    return Err(corrupt("bad Node48 slot"));
                }
            }
            if n == 0 || n > 48 || used.len() != n {
                return Err(corrupt("bad Node48"));
            }
            let keys: Vec<u8> = used.iter().map(|&(k, _)| k).collect();
            let children = read_children(r, &keys)?;
            let mut slots: Vec<Option<Node>> = vec![None; 48];
            for ((_, s), c) in used.into_iter().zip(children) {
                slots[usize::from(s)] = Some(c);
            }
            Body::N48 { index, slots }
        }
        NODE256 => {
            let mut keys = Vec::new();
            for g in 0..4 {
                let mask = r.i64()? as u64;
                keys.extend(
                    (0..64)
                        .filter(|b| mask >> b & 1 == 1)
                        .map(|b| (g * 64 + b) as u8),
                );
            }
            if n == 0 || keys.len() != n {
                return Err(corrupt("bad Node256"));
            }
            let mut children: Vec<Option<Node>> = vec![None; 256];
            for (k, c) in keys.iter().zip(read_children(r, &keys)?) {
                children[usize::from(*k)] = Some(c);
            }
            Body::N256 { children }
        }
        other => return Err(corrupt(format_args!("unknown node type {other}"))),
    };
    Ok(Node {
        count,
        prefix,
        body,
    })
}

fn decode_store(r: &mut Reader<'_>) -> Result<Store> {
    let arrays = r.i32()?;
    if arrays != 1 {
        return Err(corrupt(format_args!(
            "{arrays} container arrays (expected 1)"
        )));
    }
    r.u8()?;
    let len = usize::try_from(r.i32()?).map_err(|_| corrupt("negative capacity"))?;
    if len > r.remaining() {
        return Err(corrupt("container capacity exceeds the value"));
    }
    let mut slots = Vec::with_capacity(len);
    for _ in 0..len {
        slots.push(match r.u8()? {
            0 => None,
            1 => Some(decode_container(r)?),
            t => return Err(corrupt(format_args!("bad container mark {t}"))),
        });
    }
    let size = r.i64()?;
    let first_level = r.i32()?;
    let second_level = r.i32()?;
    let last = slots.iter().rposition(Option::is_some);
    let cursor_ok =
        usize::try_from(second_level).is_ok_and(|s| s < slots.len() && last.is_none_or(|l| l <= s));
    if first_level != 0 || !cursor_ok {
        return Err(corrupt("container cursors are out of range"));
    }
    Ok(Store {
        slots: Some(slots),
        size,
        first_level,
        second_level,
    })
}

fn decode_container(r: &mut Reader<'_>) -> Result<Container> {
    let kind = r.u8()?;
    let card = r.i32()?;
    match kind {
        0 => {
            let n = usize::from(r.u16()?);
            let mut runs = Vec::with_capacity(n);
            let mut next_free = 0u32;
            for _ in 0..n {
                let (s, l) = (r.u16()?, r.u16()?);
                if u32::from(s) < next_free || u32::from(s) + u32::from(l) > 0xFFFF {
                    return Err(corrupt("run container runs overlap or overflow"));
                }
                next_free = u32::from(s) + u32::from(l) + 1;
                runs.push((s, l));
            }
            Ok(Container::Run(runs))
        }
        1 => {
            let mut w = Box::new([0u64; WORDS]);
            for x in w.iter_mut() {
                *x = r.i64()? as u64;
            }
            if cardinality(&w) as i64 != i64::from(card) {
                return Err(corrupt("bitmap container cardinality is wrong"));
            }
            Ok(Container::Bitmap(w))
        }
        2 => {
            let n = usize::try_from(card)
                .ok()
                .filter(|&n| n <= 1 << 16)
                .ok_or_else(|| corrupt("bad array container cardinality"))?;
            let mut v = Vec::with_capacity(n.min(r.remaining() / 2));
            for _ in 0..n {
                v.push(r.u16()?);
            }
            if !v.windows(2).all(|w| w[0] < w[1]) {
                return Err(corrupt("array container values are not ascending"));
            }
            Ok(Container::Array(v))
        }
        t => Err(corrupt(format_args!("unknown container kind {t}"))),
    }
}
