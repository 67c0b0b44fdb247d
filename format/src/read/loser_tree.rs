//! A tournament ("loser") tree over sorted sources: after the winner's key changes, one
//! comparison per level, against the entry that lost at that node, finds the new winner.
//! A binary heap makes two comparisons per level and branches on both; with the random
//! keys of overlapping runs most of those branches mispredicted.
//!
//! Keys are `u128` prefixes. Equal prefixes go to a caller's tie-break (the full keys),
//! then to the source index, so equal keys come out in source order. Exhausted sources
//! sort after every live one.

use std::cmp::Ordering;
use std::hint::select_unpredictable;

pub(crate) struct LoserTree {
    /// `nodes[0]` is the winner; `nodes[i]` for `i ≥ 1` is the entry that lost at internal
    /// node `i`. Source `s` is leaf `width + s`, and a node's parent is `node / 2`. Keys
    /// sit in the nodes so that a replay's only loads are the nodes on its path.
    nodes: Vec<Entry>,
    /// Sources with no rows left, and the padding up to a power of two.
    dead: Vec<bool>,
    /// Subtree winners while building.
    winners: Vec<Entry>,
    width: usize,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    /// `u128::MAX` once the source is exhausted.
    key: u128,
    source: usize,
}

impl LoserTree {
    /// A tree over sources with these current keys (`None`: exhausted). `tie` orders two
    /// live sources whose prefixes are equal.
    pub fn new(
        keys: impl ExactSizeIterator<Item = Option<u128>>,
        tie: &impl Fn(usize, usize) -> Ordering,
    ) -> LoserTree {
        let mut tree = LoserTree {
            nodes: Vec::new(),
            dead: Vec::new(),
            winners: Vec::new(),
            width: 0,
        };
        tree.rebuild(keys, tie);
        tree
    }

    /// Starts over from these keys, reusing the tree's memory.
    pub fn rebuild(
        &mut self,
        keys: impl ExactSizeIterator<Item = Option<u128>>,
        tie: &impl Fn(usize, usize) -> Ordering,
    ) {
        let width = keys.len().next_power_of_two();
        self.width = width;
        self.nodes.clear();
        self.nodes.resize(width, Entry::default());
        // Winners of each subtree, bottom up; the loser stays at the node.
        let mut winners = std::mem::take(&mut self.winners);
        winners.clear();
        winners.resize(width, Entry::default());
        self.dead.clear();
        // The padding past the sources is exhausted.
        for (source, key) in keys.chain(std::iter::repeat(None)).take(width).enumerate() {
            self.dead.push(key.is_none());
            winners.push(Entry {
                key: key.unwrap_or(u128::MAX),
                source,
            });
        }
        for node in (1..width).rev() {
            let (a, b) = (winners[2 * node], winners[2 * node + 1]);
            let (win, lose) = if self.less(b, a, tie) { (b, a) } else { (a, b) };
            winners[node] = win;
            self.nodes[node] = lose;
        }
        self.nodes[0] = winners[1.min(2 * width - 1)];
        self.winners = winners;
    }

    /// The source with the smallest key, `None` when every source is exhausted.
    pub fn winner(&self) -> Option<usize> {
        let w = self.nodes[0].source;
        (!self.dead[w]).then_some(w)
    }

    /// The winner's current key prefix.
    pub fn winner_key(&self) -> u128 {
        self.nodes[0].key
    }

    /// The winner moved to a row with this key (`None`: its source is exhausted); finds
    /// the new winner.
    pub fn replay(&mut self, key: Option<u128>, tie: &impl Fn(usize, usize) -> Ordering) {
        let source = self.nodes[0].source;
        self.dead[source] = key.is_none();
        let mut winner = Entry {
            key: key.unwrap_or(u128::MAX),
            source,
        };
        let mut node = (self.width + source) / 2;
        while node > 0 {
            let other = self.nodes[node];
            // Selected by value, not by branch: the comparison is a coin toss.
            let swap = self.less(other, winner, tie);
            self.nodes[node] = select_unpredictable(swap, winner, other);
            winner = select_unpredictable(swap, other, winner);
            node /= 2;
        }
        self.nodes[0] = winner;
    }

    #[inline(always)]
    fn less(&self, a: Entry, b: Entry, tie: &impl Fn(usize, usize) -> Ordering) -> bool {
        if a.key != b.key {
            return a.key < b.key;
        }
        self.tie_less(a.source, b.source, tie)
    }

    #[cold]
    #[inline(never)]
    fn tie_less(&self, a: usize, b: usize, tie: &impl Fn(usize, usize) -> Ordering) -> bool {
        match (self.dead[a], self.dead[b]) {
            (false, false) => tie(a, b).then(a.cmp(&b)).is_lt(),
            (false, true) => true,
            (true, false) => false,
            (true, true) => a < b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Draining the tree yields every (key, source) in order, whatever the number of
        /// sources, with ties broken by the tie-break, then by source.
        #[test]
        fn draining_merges_the_sources_in_order(
            mut runs in proptest::collection::vec(proptest::collection::vec(0u128..6, 0..12), 0..13),
        ) {
            for run in &mut runs {
                run.sort_unstable();
            }
            // Prefixes keep only the key's high half; the tie-break sees the whole key.
            let prefix = |k: u128| k / 2;
            let mut pos = vec![0usize; runs.len()];
            let current = |pos: &[usize], s: usize| runs[s].get(pos[s]).copied();
            let start: Vec<Option<u128>> =
                (0..runs.len()).map(|s| current(&pos, s).map(prefix)).collect();
            let positions = std::cell::RefCell::new(pos.clone());
            let tie = |a: usize, b: usize| {
                let p = positions.borrow();
                current(&p, a).cmp(&current(&p, b))
            };
            let mut tree = LoserTree::new(start.iter().copied(), &tie);
            let mut out = Vec::new();
            while let Some(s) = tree.winner() {
                let key = current(&pos, s).expect("a live winner has a key");
                prop_assert_eq!(tree.winner_key(), prefix(key));
                out.push((key, s));
                pos[s] += 1;
                *positions.borrow_mut() = pos.clone();
                tree.replay(current(&pos, s).map(prefix), &tie);
            }
            let mut expected: Vec<(u128, usize)> = runs
                .iter()
                .enumerate()
                .flat_map(|(s, run)| run.iter().map(move |k| (*k, s)))
                .collect();
            expected.sort_unstable();
            prop_assert_eq!(out, expected);
        }
    }
}
