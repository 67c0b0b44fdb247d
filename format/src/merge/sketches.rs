//! Paimon's `hll_sketch` and `theta_sketch` aggregates: unions of Apache DataSketches
//! sketches, computed with the `datasketches` crate (a port of the C++ library, whose
//! serialized forms are the Java library's) and serialized the way Paimon's Java code does.
//!
//! - `hll_sketch` (`HllSketchUtil.union`): a union whose `lgMaxK` is the *input's* `lgK`
//!   (`Union.heapify(input)`), updated with the input and then the accumulator; the result
//!   as an `HLL_4` sketch in compact form.
//! - `theta_sketch` (`ThetaSketch.union`): a default union (`lgK` 12, seed 9001) of the
//!   accumulator and then the input; the result ordered and compact.
//!
//! Where the crate's bytes differ from Java DataSketches' for the same sketch, this module
//! adjusts them: Java rebuilds a compact HLL coupon set by re-inserting its coupons into a
//! growing hash table (so the table order, which the result's bytes keep, is Java's), lays
//! out an `HLL_4` result's aux table in Java's order and size, and marks Theta single-item
//! sketches and the sampling probability `p` in Theta preambles.

use datasketches::hll::{HllSketch, HllType, HllUnion};
use datasketches::theta::{CompactThetaSketch, ThetaUnionBuilder};

use crate::error::{Error, Result};

fn bad(function: &str, what: impl std::fmt::Display) -> Error {
    Error::data_invalid(format!(
        "{function} value is not a serialized sketch: {what}"
    ))
}

/// Runs a crate call on untrusted bytes: some malformed sketches make the crate panic, and
/// a bad value must be an error, never a crash.
fn guarded<T>(function: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(bad(function, "malformed sketch")))
}

/// `acc ∪ input` as Paimon's `hll_sketch` aggregate serializes it.
pub(crate) fn hll_union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    guarded("hll_sketch", || hll_union_unguarded(acc, input))
}

fn hll_union_unguarded(acc: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    let read = |bytes: &[u8]| {
        let java = java_set_layout(bytes);
        HllSketch::deserialize(java.as_deref().unwrap_or(bytes)).map_err(|e| bad("hll_sketch", e))
    };
    let (a, b) = (read(acc)?, read(input)?);
    let mut union = HllUnion::new(b.lg_config_k()).map_err(|e| bad("hll_sketch", e))?;
    union.update(&b);
    union.update(&a);
    let mut out = union.to_sketch(HllType::Hll4).serialize();
    java_aux_table(&mut out);
    Ok(out)
}

/// HLL preamble: mode in the low bits of byte 7, compact flag in byte 5.
const HLL_MODE_BYTE: usize = 7;
const HLL_FLAGS_BYTE: usize = 5;
const HLL_COMPACT_FLAG: u8 = 0x08;
const HLL_MODE_SET: u8 = 1;
const HLL_MODE_HLL: u8 = 2;
/// Java's `LG_INIT_SET_SIZE`, `RESIZE_NUMER / RESIZE_DENOM` and `KEY_MASK_26`.
const LG_INIT_SET: u32 = 5;
const KEY_MASK_26: u32 = (1 << 26) - 1;

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Java's `CouponHashSet.find`-based insert into a table of `1 << lg` slots.
fn set_insert(table: &mut [u32], lg: u32, coupon: u32) -> bool {
    let mask = (1u32 << lg) - 1;
    let mut probe = coupon & mask;
    let start = probe;
    loop {
        let slot = &mut table[probe as usize];
        if *slot == 0 {
            *slot = coupon;
            return true;
        }
        if *slot == coupon {
            return false;
        }
        probe = (probe + (((coupon & KEY_MASK_26) >> lg) | 1)) & mask;
        if probe == start {
            return false;
        }
    }
}

/// A compact SET-mode HLL image rewritten as the updatable image of the table Java's
/// `heapify` builds from it (inserting the coupons in order into a table of 32 slots that
/// doubles past 3/4 full), so the crate reads the same table layout. `None` for any other
/// image, and for images too malformed to rewrite (the crate then reports them).
fn java_set_layout(bytes: &[u8]) -> Option<Vec<u8>> {
    let (&mode, &flags) = (bytes.get(HLL_MODE_BYTE)?, bytes.get(HLL_FLAGS_BYTE)?);
    if mode & 3 != HLL_MODE_SET || flags & HLL_COMPACT_FLAG == 0 {
        return None;
    }
    let count = le_u32(bytes, 8)? as usize;
    let coupons = bytes.get(12..12 + count.checked_mul(4)?)?;
    let mut lg = LG_INIT_SET;
    let mut table = vec![0u32; 1 << lg];
    let mut n = 0usize;
    for c in coupons.chunks_exact(4) {
        let coupon = u32::from_le_bytes(c.try_into().ok()?);
        if coupon == 0 || !set_insert(&mut table, lg, coupon) {
            continue;
        }
        n += 1;
        if 4 * n > 3 * table.len() {
            lg += 1;
            if lg > 26 {
                return None;
            }
            let mut grown = vec![0u32; 1 << lg];
            for &c in table.iter().filter(|&&c| c != 0) {
                set_insert(&mut grown, lg, c);
            }
            table = grown;
        }
    }
    let mut out = bytes[..12].to_vec();
    out[4] = lg as u8;
    out[HLL_FLAGS_BYTE] &= !HLL_COMPACT_FLAG;
    out[8..12].copy_from_slice(&(n as u32).to_le_bytes());
    table
        .iter()
        .for_each(|c| out.extend_from_slice(&c.to_le_bytes()));
    Some(out)
}

/// Java's aux table of an `HLL_4` result: the entries (`slot | value << 26`) inserted in
/// slot order (as `convertToHll4` adds them) into a table of `LG_AUX_ARR_INTS[lgK]` slots
/// probed by `slot`, doubled past 3/4 full; the compact form lists them in table order and
/// byte 4 holds the table's size.
fn java_aux_table(out: &mut [u8]) {
    const LG_AUX_ARR_INTS: [u32; 27] = [
        0, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    ];
    const HLL_4: u8 = 0;
    if out.len() < 40
        || out[HLL_MODE_BYTE] & 3 != HLL_MODE_HLL
        || (out[HLL_MODE_BYTE] >> 2) & 3 != HLL_4
    {
        return;
    }
    let lg_k = u32::from(out[3]);
    let (Some(&base), Some(count)) = (LG_AUX_ARR_INTS.get(lg_k as usize), le_u32(out, 36)) else {
        return;
    };
    let start = 40 + (1usize << lg_k) / 2;
    let Some(region) = out.get(start..start + count as usize * 4) else {
        return;
    };
    let slot_mask = (1u32 << lg_k) - 1;
    let mut entries: Vec<u32> = region
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if entries.is_empty() {
        return;
    }
    entries.sort_unstable_by_key(|e| e & slot_mask);
    let insert = |table: &mut [u32], lg: u32, e: u32| {
        let mask = (1u32 << lg) - 1;
        let slot = e & slot_mask;
        let mut probe = slot & mask;
        while table[probe as usize] != 0 {
            probe = (probe + ((slot >> lg) | 1)) & mask;
        }
        table[probe as usize] = e;
    };
    let mut lg = base;
    let mut table = vec![0u32; 1 << lg];
    for (n, &e) in entries.iter().enumerate() {
        insert(&mut table, lg, e);
        if 4 * (n + 1) > 3 * table.len() {
            lg += 1;
            let mut grown = vec![0u32; 1 << lg];
            for &old in table.iter().filter(|&&x| x != 0) {
                insert(&mut grown, lg, old);
            }
            table = grown;
        }
    }
    let ordered: Vec<u8> = table
        .iter()
        .filter(|&&e| e != 0)
        .flat_map(|e| e.to_le_bytes())
        .collect();
    out[start..start + ordered.len()].copy_from_slice(&ordered);
    out[4] = lg as u8;
}

/// `acc ∪ input` as Paimon's `theta_sketch` aggregate serializes it.
pub(crate) fn theta_union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    guarded("theta_sketch", || theta_union_unguarded(acc, input))
}

fn theta_union_unguarded(acc: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    let mut union = ThetaUnionBuilder::default()
        .build()
        .map_err(|e| Error::internal(format!("cannot build a theta union: {e}")))?;
    for bytes in [acc, input] {
        let sketch = CompactThetaSketch::deserialize(bytes).map_err(|e| bad("theta_sketch", e))?;
        union.update(&sketch).map_err(|e| bad("theta_sketch", e))?;
    }
    let mut out = union.to_sketch(true).serialize();
    java_theta_preamble(&mut out);
    Ok(out)
}

/// Java's compact Theta preamble: `p` (1.0) in bytes 12..16 when there are two or more
/// preamble longs, and the single-item flag on a one-entry sketch without them.
fn java_theta_preamble(out: &mut [u8]) {
    const FLAG_EMPTY: u8 = 0x04;
    const FLAG_SINGLE_ITEM: u8 = 0x20;
    let Some(&pre) = out.first() else {
        return;
    };
    let pre_longs = pre & 0x3f;
    if pre_longs >= 2 && out.len() >= 16 {
        out[12..16].copy_from_slice(&1.0f32.to_le_bytes());
    } else if pre_longs == 1 && out.len() == 16 && out[5] & FLAG_EMPTY == 0 {
        out[5] |= FLAG_SINGLE_ITEM;
    }
}
