//! How a flush's gather costs with the number of runs it reads from: 5M generated rows in
//! batches, each batch's rows sorted by (bucket of 4, key) as `arrange` lays them out, or
//! left in arrival order; one bucket's rows gathered in key order, 8192 at a time, as
//! strings of 10–40 characters and as BIGINTs. Prints nanoseconds per row. For arranged
//! batches also windowed: each run's rows in a window of the output (a contiguous slice of
//! its batch) concatenated into one array first, and the rows gathered from that, in cache.
//! `prefetched`: the writer's own gather, which copies a short value as one block and asks
//! for each source's next cache line as it reads one.
//!
//! `cargo run --release -p strata-writer --example gather_runs [batches...]`

use std::time::Instant;

use arrow::array::{Array, ArrayRef, GenericByteBuilder, Int64Array, StringArray};
use arrow::datatypes::Utf8Type;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use strata_writer::gather::{gather, RowRef};

const ROWS: usize = 5_000_000;
const CHUNK: usize = 8192;

/// Total bytes of `rows` (batch, row) of `arrays` gathered into one string array.
fn gather_strings(arrays: &[StringArray], rows: &[(usize, usize)]) -> usize {
    let mut out = GenericByteBuilder::<Utf8Type>::with_capacity(rows.len(), rows.len() * 26);
    for &(b, r) in rows {
        match arrays.get(b) {
            Some(a) if r < a.len() => out.append_value(a.value(r)),
            _ => out.append_null(),
        }
    }
    out.finish().value_data().len()
}

/// `rows` of `arrays` gathered by the writer's gather.
fn writer_gather<A: Array + Clone + 'static>(arrays: &[A], rows: &[RowRef]) -> A {
    let sources: Vec<&dyn Array> = arrays.iter().map(|a| a as &dyn Array).collect();
    let gathered = gather(&sources, rows).expect("rows inside their arrays");
    (gathered.as_any().downcast_ref::<A>())
        .expect("same type")
        .clone()
}

/// Sum of `rows` of `arrays` gathered into one vector.
fn gather_ints(arrays: &[Int64Array], rows: &[(usize, usize)]) -> i64 {
    let values: Vec<i64> = rows
        .iter()
        .map(|&(b, r)| arrays.get(b).map_or(0, |a| a.value(r)))
        .collect();
    values.iter().fold(0i64, |s, v| s.wrapping_add(*v))
}

/// `rows` of `arrays` a window at a time: each batch's rows in the window (ascending, as an
/// arranged run's are) staged by one `concat` of slices, then gathered by `gather` from it.
fn windowed<A: Array + Clone + 'static, T: Default + std::ops::AddAssign>(
    arrays: &[A],
    rows: &[(usize, usize)],
    window: usize,
    gather: impl Fn(&[A], &[(usize, usize)]) -> T,
) -> T {
    let mut total = T::default();
    for w in rows.chunks(window) {
        let mut range = vec![(usize::MAX, 0usize); arrays.len()];
        for &(b, r) in w {
            range[b] = (range[b].0.min(r), range[b].1.max(r + 1));
        }
        let mut base = vec![0usize; arrays.len()];
        let mut slices: Vec<ArrayRef> = Vec::new();
        let mut n = 0;
        for (b, &(lo, hi)) in range.iter().enumerate().filter(|(_, r)| r.0 < r.1) {
            base[b] = n - lo;
            n += hi - lo;
            slices.push(arrow::array::make_array(
                arrays[b].to_data().slice(lo, hi - lo),
            ));
        }
        let refs: Vec<&dyn Array> = slices.iter().map(|a| a.as_ref()).collect();
        let staged = arrow::compute::concat(&refs).expect("concat");
        let staged = staged
            .as_any()
            .downcast_ref::<A>()
            .expect("same type")
            .clone();
        let local: Vec<(usize, usize)> = w.iter().map(|&(b, r)| (0, base[b] + r)).collect();
        for c in local.chunks(CHUNK) {
            total += gather(std::slice::from_ref(&staged), c);
        }
    }
    total
}

fn run(batches: usize, arranged: bool) {
    let per = ROWS / batches;
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = StdRng::seed_from_u64(42);
    let (mut strings, mut ints, mut bucket) = (Vec::new(), Vec::new(), Vec::new());
    for b in 0..batches {
        let mut rows: Vec<(u64, u64, String)> = (0..per)
            .map(|_| {
                let key = rng.next_u64();
                let len = 10 + (rng.next_u64() % 31) as usize;
                let s = (0..len)
                    .map(|_| alphabet[(rng.next_u64() % 36) as usize] as char)
                    .collect();
                (key % 4, key, s)
            })
            .collect();
        if arranged {
            rows.sort_unstable_by_key(|r| (r.0, r.1));
        }
        for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.0 == 0) {
            bucket.push((r.1, b, i));
        }
        ints.push(Int64Array::from_iter_values(
            rows.iter().map(|r| r.1 as i64),
        ));
        strings.push(StringArray::from_iter_values(rows.into_iter().map(|r| r.2)));
    }
    bucket.sort_unstable();
    let order: Vec<(usize, usize)> = bucket.iter().map(|&(_, b, r)| (b, r)).collect();
    let per_row = |t: Instant| t.elapsed().as_nanos() as f64 / order.len() as f64;
    let t = Instant::now();
    let bytes: usize = order
        .chunks(CHUNK)
        .map(|c| gather_strings(&strings, c))
        .sum();
    let string_ns = per_row(t);
    let t = Instant::now();
    let sum = (order.chunks(CHUNK)).fold(0i64, |s, c| s.wrapping_add(gather_ints(&ints, c)));
    let int_ns = per_row(t);
    let refs: Vec<RowRef> = (order.iter())
        .map(|&(b, r)| RowRef {
            batch: b as u32,
            row: r as u32,
        })
        .collect();
    let t = Instant::now();
    let prefetched_bytes: usize = (refs.chunks(CHUNK))
        .map(|c| writer_gather::<StringArray>(&strings, c).value_data().len())
        .sum();
    let prefetched_string_ns = per_row(t);
    let t = Instant::now();
    let prefetched_sum = refs.chunks(CHUNK).fold(0i64, |s, c| {
        (writer_gather::<Int64Array>(&ints, c).values().iter()).fold(s, |s, v| s.wrapping_add(*v))
    });
    let prefetched_int_ns = per_row(t);
    assert_eq!(
        (prefetched_bytes, prefetched_sum),
        (bytes, sum),
        "prefetched gather differs"
    );
    println!(
        "{batches:>5} batches of {per:>7} rows, {}: strings {string_ns:5.1} ns/row, \
         BIGINT {int_ns:4.1} ns/row ({bytes} bytes, sum {sum})",
        if arranged {
            "arranged"
        } else {
            "arrival order"
        }
    );
    println!(
        "      prefetched:         strings {prefetched_string_ns:5.1} ns/row, \
         BIGINT {prefetched_int_ns:4.1} ns/row"
    );
    if !arranged {
        return;
    }
    for window in [16384, 65536, 262144] {
        let t = Instant::now();
        let staged_bytes = windowed(&strings, &order, window, gather_strings);
        let string_ns = per_row(t);
        let t = Instant::now();
        let staged_sum = windowed(&ints, &order, window, |a, r| {
            std::num::Wrapping(gather_ints(a, r))
        });
        let int_ns = per_row(t);
        assert_eq!(
            (staged_bytes, staged_sum.0),
            (bytes, sum),
            "windowed gather differs"
        );
        println!("      windowed by {window:>6}: strings {string_ns:5.1} ns/row, BIGINT {int_ns:4.1} ns/row");
    }
}

fn main() {
    let batches: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batches = if batches.is_empty() {
        vec![610, 76, 20, 4]
    } else {
        batches
    };
    run(batches[0], false);
    for b in batches {
        run(b, true);
    }
}
