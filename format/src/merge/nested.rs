//! `collect`, `merge_map` and `nested_update` on Arrow lists and maps.
//!
//! Results are built by picking elements out of the inputs (`interleave`), so any element
//! type works. Java builds these with hash sets and maps, whose iteration order is its hash
//! order; Strata keeps first-seen order, so the same elements may come out in another order.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_ord::ord::make_comparator;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType as ArrowType, SortOptions};
use arrow_select::interleave::interleave;

use super::cell::{Acc, Cell};
use super::functions::Ctx;
use crate::error::{Error, Result};

/// Decides which elements are equal: by row-format bytes where Arrow supports them, else by
/// comparing pairs (maps inside elements).
struct Equality {
    keys: Option<Vec<Vec<Vec<u8>>>>,
    arrays: Vec<ArrayRef>,
}

impl Equality {
    fn new(arrays: Vec<ArrayRef>) -> Result<Equality> {
        let data_type = arrays
            .first()
            .map(|a| a.data_type().clone())
            .unwrap_or(ArrowType::Null);
        let fields = vec![SortField::new(data_type)];
        let keys = if RowConverter::supports_fields(&fields) {
            let converter = RowConverter::new(fields)?;
            let mut keys = Vec::with_capacity(arrays.len());
            for a in &arrays {
                let rows = converter.convert_columns(std::slice::from_ref(a))?;
                keys.push(
                    (0..rows.num_rows())
                        .map(|i| rows.row(i).as_ref().to_vec())
                        .collect(),
                );
            }
            Some(keys)
        } else {
            None
        };
        Ok(Equality { keys, arrays })
    }

    fn key(&self, (a, i): (usize, usize)) -> Option<&[u8]> {
        self.keys.as_ref().map(|k| k[a][i].as_slice())
    }

    fn equal(&self, x: (usize, usize), y: (usize, usize)) -> Result<bool> {
        if let (Some(p), Some(q)) = (self.key(x), self.key(y)) {
            return Ok(p == q);
        }
        let (l, r) = (&self.arrays[x.0], &self.arrays[y.0]);
        match (l.is_null(x.1), r.is_null(y.1)) {
            (true, true) => return Ok(true),
            (true, false) | (false, true) => return Ok(false),
            _ => {}
        }
        let cmp = make_comparator(l.as_ref(), r.as_ref(), SortOptions::default())?;
        Ok(cmp(x.1, y.1).is_eq())
    }
}

/// Keeps the first of equal elements, in order.
fn distinct(eq: &Equality, picks: Vec<(usize, usize)>) -> Result<Vec<(usize, usize)>> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(picks.len());
    if eq.keys.is_some() {
        let mut seen = std::collections::HashSet::new();
        for p in picks {
            if seen.insert(eq.key(p).unwrap_or_default().to_vec()) {
                out.push(p);
            }
        }
        return Ok(out);
    }
    for p in picks {
        let mut dup = false;
        for q in &out {
            if eq.equal(*q, p)? {
                dup = true;
                break;
            }
        }
        if !dup {
            out.push(p);
        }
    }
    Ok(out)
}

fn list_parts<'a>(c: Cell<'a>) -> Result<(&'a ListArray, ArrayRef)> {
    let list = c.0.as_list_opt::<i32>().ok_or_else(|| {
        Error::data_invalid(format!(
            "expected an ARRAY value, got type {}",
            c.0.data_type()
        ))
    })?;
    Ok((list, list.value(c.1)))
}

/// A one-row list of the picked elements, typed like `like`.
fn one_list(like: &ListArray, sources: &[ArrayRef], picks: &[(usize, usize)]) -> Result<Acc> {
    let ArrowType::List(field) = like.data_type() else {
        return Err(Error::internal("list without list type"));
    };
    let refs: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
    let values = interleave(&refs, picks)?;
    let list = ListArray::try_new(
        field.clone(),
        OffsetBuffer::from_lengths([picks.len()]),
        values,
        None,
    )?;
    Ok(Acc::Owned(Arc::new(list)))
}

fn all_of(array: &ArrayRef, source: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..array.len()).map(move |i| (source, i))
}

/// Java `FieldCollectAgg.agg`: concatenation, or a distinct union with `distinct` (which
/// also de-duplicates a lone non-null side).
pub(crate) fn collect(
    _ctx: &Ctx<'_, '_>,
    a: Option<Cell<'_>>,
    v: Option<Cell<'_>>,
    distinct_only: bool,
    acc: Acc,
    value: Acc,
) -> Result<Acc> {
    match (a, v) {
        (None, None) => Ok(Acc::Null),
        (None, Some(_)) if !distinct_only => Ok(value),
        (Some(_), None) if !distinct_only => Ok(acc),
        _ => {
            let mut like = None;
            let mut sources = Vec::new();
            for c in [a, v].into_iter().flatten() {
                let (list, elems) = list_parts(c)?;
                like.get_or_insert(list);
                sources.push(elems);
            }
            let like = like.ok_or_else(|| Error::internal("collect without input"))?;
            let mut picks: Vec<(usize, usize)> = Vec::new();
            for (s, elems) in sources.iter().enumerate() {
                picks.extend(all_of(elems, s));
            }
            if distinct_only {
                let nested = sources.first().is_some_and(|e| e.data_type().is_nested());
                let eq = Equality::new(sources.clone())?;
                picks = if nested && a.is_some() && sources.len() == 2 {
                    // Java keeps a nested accumulator as is and adds the new elements.
                    let acc_len = sources[0].len();
                    let mut kept: Vec<(usize, usize)> = all_of(&sources[0], 0).collect();
                    for p in picks.into_iter().skip(acc_len) {
                        let mut dup = false;
                        for q in &kept {
                            if eq.equal(*q, p)? {
                                dup = true;
                                break;
                            }
                        }
                        if !dup {
                            kept.push(p);
                        }
                    }
                    kept
                } else {
                    distinct(&eq, picks)?
                };
            }
            one_list(like, &sources, &picks)
        }
    }
}

/// Java `FieldCollectAgg.retract`: removes one accumulator element per retracted element.
pub(crate) fn collect_retract(x: Cell<'_>, y: Cell<'_>) -> Result<Acc> {
    let (like, acc) = list_parts(x)?;
    let (_, gone) = list_parts(y)?;
    if gone.is_empty() {
        return Ok(Acc::Owned(Arc::new(like.slice(x.1, 1))));
    }
    let eq = Equality::new(vec![acc.clone(), gone.clone()])?;
    let mut pending: Vec<(usize, usize)> = all_of(&gone, 1).collect();
    let mut kept = Vec::new();
    for p in all_of(&acc, 0) {
        let mut hit = None;
        for (k, q) in pending.iter().enumerate() {
            if eq.equal(*q, p)? {
                hit = Some(k);
                break;
            }
        }
        match hit {
            Some(k) => {
                pending.remove(k);
            }
            None => kept.push(p),
        }
    }
    one_list(like, &[acc, gone], &kept)
}

fn map_parts<'a>(c: Cell<'a>) -> Result<(&'a MapArray, StructArray)> {
    let map = c.0.as_map_opt().ok_or_else(|| {
        Error::data_invalid(format!(
            "expected a MAP value, got type {}",
            c.0.data_type()
        ))
    })?;
    Ok((map, map.value(c.1)))
}

fn one_map(like: &MapArray, sources: &[StructArray], picks: &[(usize, usize)]) -> Result<Acc> {
    let ArrowType::Map(field, ordered) = like.data_type() else {
        return Err(Error::internal("map without map type"));
    };
    let ArrowType::Struct(entry_fields) = field.data_type() else {
        return Err(Error::internal("map entries are not a struct"));
    };
    let mut columns = Vec::with_capacity(2);
    for c in 0..2 {
        let refs: Vec<&dyn Array> = sources.iter().map(|s| s.column(c).as_ref()).collect();
        columns.push(interleave(&refs, picks)?);
    }
    let entries = StructArray::try_new(entry_fields.clone(), columns, None)?;
    let map = MapArray::try_new(
        field.clone(),
        OffsetBuffer::from_lengths([picks.len()]),
        entries,
        None,
        *ordered,
    )?;
    Ok(Acc::Owned(Arc::new(map)))
}

/// Java `FieldMergeMapAgg.agg`: the union of both maps, the newer value winning.
pub(crate) fn merge_map(x: Cell<'_>, y: Cell<'_>) -> Result<Acc> {
    let (like, a) = map_parts(x)?;
    let (_, b) = map_parts(y)?;
    let keys = Equality::new(vec![a.column(0).clone(), b.column(0).clone()])?;
    let mut picks: Vec<(usize, usize)> = Vec::new();
    for p in all_of(a.column(0), 0).chain(all_of(b.column(0), 1)) {
        let mut slot = None;
        for (k, q) in picks.iter().enumerate() {
            if fast_equal(&keys, *q, p)? {
                slot = Some(k);
                break;
            }
        }
        match slot {
            Some(k) => picks[k] = p,
            None => picks.push(p),
        }
    }
    one_map(like, &[a, b], &picks)
}

/// Java `FieldMergeMapAgg.retract`: drops the retracted keys.
pub(crate) fn merge_map_retract(x: Cell<'_>, y: Cell<'_>) -> Result<Acc> {
    let (like, a) = map_parts(x)?;
    let (_, b) = map_parts(y)?;
    let keys = Equality::new(vec![a.column(0).clone(), b.column(0).clone()])?;
    let mut kept = Vec::new();
    for p in all_of(a.column(0), 0) {
        let mut gone = false;
        for q in all_of(b.column(0), 1) {
            if fast_equal(&keys, q, p)? {
                gone = true;
                break;
            }
        }
        if !gone {
            kept.push(p);
        }
    }
    one_map(like, &[a, b], &kept)
}

fn fast_equal(eq: &Equality, x: (usize, usize), y: (usize, usize)) -> Result<bool> {
    eq.equal(x, y)
}

/// The element rows of an ARRAY<ROW> value and, per element, its key bytes.
struct Rows {
    elems: ArrayRef,
    keys: Vec<Vec<u8>>,
}

fn nested_rows(c: Cell<'_>, key: &[usize]) -> Result<(ListArray, Rows)> {
    let (list, elems) = list_parts(c)?;
    let strukt = elems.as_struct_opt().ok_or_else(|| {
        Error::data_invalid(format!(
            "nested_update needs ARRAY<ROW>, got {}",
            list.data_type()
        ))
    })?;
    let columns: Vec<ArrayRef> = if key.is_empty() {
        vec![elems.clone()]
    } else {
        key.iter()
            .map(|k| {
                strukt.columns().get(*k).cloned().ok_or_else(|| {
                    Error::data_invalid(format!(
                        "nested-key field {k} is missing from {}",
                        elems.data_type()
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    let fields: Vec<SortField> = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let keys = if RowConverter::supports_fields(&fields) {
        let rows = RowConverter::new(fields)?.convert_columns(&columns)?;
        (0..rows.num_rows())
            .map(|i| rows.row(i).as_ref().to_vec())
            .collect()
    } else {
        return Err(Error::unsupported(format!(
            "nested_update cannot compare elements of type {} (maps inside rows)",
            elems.data_type()
        )));
    };
    Ok((list.clone(), Rows { elems, keys }))
}

/// Java `FieldNestedUpdateAgg.agg`: the accumulator's rows plus the new ones up to
/// `count-limit`, then one row per `nested-key` (the last wins).
pub(crate) fn nested_update(
    x: Cell<'_>,
    y: Cell<'_>,
    key: &[usize],
    count_limit: usize,
    acc: Acc,
) -> Result<Acc> {
    let (like, a) = nested_rows(x, key)?;
    let (_, b) = nested_rows(y, key)?;
    if a.elems.len() >= count_limit {
        return Ok(acc);
    }
    let remain = count_limit - a.elems.len();
    let mut picks: Vec<(usize, usize)> = (0..a.elems.len())
        .filter(|i| a.elems.is_valid(*i))
        .map(|i| (0, i))
        .collect();
    picks.extend(
        (0..b.elems.len())
            .filter(|i| b.elems.is_valid(*i))
            .take(remain)
            .map(|i| (1, i)),
    );
    if !key.is_empty() {
        let sides = [&a, &b];
        let mut slots: HashMap<&[u8], usize> = HashMap::new();
        let mut out: Vec<(usize, usize)> = Vec::new();
        for p in picks {
            let k = sides[p.0].keys[p.1].as_slice();
            match slots.get(k) {
                Some(&s) => out[s] = p,
                None => {
                    slots.insert(k, out.len());
                    out.push(p);
                }
            }
        }
        picks = out;
    }
    one_list(&like, &[a.elems.clone(), b.elems.clone()], &picks)
}

/// Java `FieldNestedUpdateAgg.retract`: removes rows equal to (or, with `nested-key`, with
/// the key of) a retracted row.
pub(crate) fn nested_update_retract(x: Cell<'_>, y: Cell<'_>, key: &[usize]) -> Result<Acc> {
    let (like, a) = nested_rows(x, key)?;
    let (_, b) = nested_rows(y, key)?;
    let gone: std::collections::HashSet<&[u8]> = (0..b.elems.len())
        .filter(|i| b.elems.is_valid(*i))
        .map(|i| b.keys[i].as_slice())
        .collect();
    let mut picks: Vec<(usize, usize)> = Vec::new();
    let mut slots: HashMap<&[u8], usize> = HashMap::new();
    for i in (0..a.elems.len()).filter(|i| a.elems.is_valid(*i)) {
        let k = a.keys[i].as_slice();
        if gone.contains(k) {
            continue;
        }
        if key.is_empty() {
            picks.push((0, i));
            continue;
        }
        match slots.get(k) {
            Some(&s) => picks[s] = (0, i),
            None => {
                slots.insert(k, picks.len());
                picks.push((0, i));
            }
        }
    }
    one_list(&like, std::slice::from_ref(&a.elems), &picks)
}
