//! Rust loops on libtorch's intra-op thread pool (`at::parallel_for`), through a `cxx` bridge
//! to cpp/parallel.cpp. A loop that runs between libtorch operators on threads of its own
//! competes with the pool's workers, which keep spinning for a while after each operator
//! (OpenMP's wait policy); on the pool, the loop uses those same workers. [`for_rows_mut`]
//! hands such loops a tensor's memory in place: libtorch gives no safe view of it, and copying
//! it out and back would cost more than most of these loops.

use std::sync::Mutex;

/// A borrowed Rust closure, handed to C++ as an opaque reference and called back by [`run`],
/// with the first panic of any of its calls, kept to be resumed once C++ has returned.
pub struct Task<'a> {
    f: &'a (dyn Fn(usize, usize) + Sync),
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

// the bridge `cxx` generates declares the C++ function and exports `run` (`unsafe` code)
#[allow(unsafe_code)]
#[cxx::bridge(namespace = "gptlab_dist")]
mod bridge {
    extern "Rust" {
        type Task<'a>;
        fn run(task: &Task, begin: i64, end: i64);
    }
    unsafe extern "C++" {
        include!("gptlab-dist/cpp/parallel.h");

        // unsafe: `cxx` requires `unsafe extern` blocks; the signature passes two integers and
        // a reference that `cxx` checks, and the shim calls back only `run` with it.
        fn parallel_for(n: i64, grain: i64, task: &Task);
    }
}

/// Calls the closure; a panic must not unwind into C++ (`cxx` would abort the process), so it
/// is caught here and kept.
fn run(task: &Task, begin: i64, end: i64) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (task.f)(begin as usize, end as usize))) {
        task.panic.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(p);
    }
}

/// Calls `f(begin, end)` over disjoint ranges covering `0..n` on libtorch's intra-op threads
/// (as many as `tch::set_num_threads` set, and no more than `n / grain`), as `at::parallel_for`
/// splits them: about `n / threads` each. With `n ≤ grain`, or within a libtorch parallel
/// region, it runs once on the calling thread. Returns when all calls have finished; if one
/// panicked, the first panic is resumed then.
pub fn parallel_for(n: usize, grain: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    if n > 0 {
        let task = Task { f, panic: Mutex::new(None) };
        // at::parallel_for takes signed sizes: a grain past i64::MAX means the same as i64::MAX
        bridge::parallel_for(n as i64, grain.clamp(1, i64::MAX as usize) as i64, &task);
        if let Some(p) = task.panic.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            std::panic::resume_unwind(p);
        }
    }
}

/// Calls `f` on disjoint runs of whole rows of `t`, a contiguous fp32 tensor in CPU memory
/// seen as rows of `width` elements, in place, on libtorch's intra-op threads, split as
/// [`parallel_for`] splits `rows` with `grain`. Other views of `t`'s storage see the writes.
/// A tensor autograd tracks is refused: these writes would not bump its version counter, so a
/// backward pass that saved it could not notice them.
pub fn for_rows_mut(t: &mut tch::Tensor, width: usize, grain: usize, f: &(dyn Fn(&mut [f32]) + Sync)) -> crate::Result<()> {
    for_rows_mut_reading::<f32, f32>(t, width, Split::Grain(grain), &[], &|_, rows, _| f(rows))
}

/// How [`for_rows_mut_reading`] hands out the rows.
#[derive(Debug, Clone, Copy)]
pub enum Split<'a> {
    /// As [`parallel_for`] splits them with this grain: equal counts of rows.
    Grain(usize),
    /// Part `i` is rows `bounds[i]..bounds[i + 1]` (`bounds` rises from 0 to the row count),
    /// the parts split among the threads as [`parallel_for`] splits them with a grain of 1:
    /// with as many parts as threads, one each, so a caller can even out unequal rows. A run
    /// may span several parts; empty runs are not handed out.
    Bounds(&'a [usize]),
}

/// An element type that [`for_rows_mut_reading`] hands out: a tensor of [`Elem::KIND`] holds
/// values of this Rust type, laid out as Rust lays them out. Sealed: the slices made from a
/// tensor's memory rely on that, so only the types below implement it.
pub trait Elem: sealed::Sealed + Copy + Sync + 'static {
    const KIND: tch::Kind;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

impl Elem for f32 {
    const KIND: tch::Kind = tch::Kind::Float;
}

/// IEEE half precision: `half::f16` is a `u16` of the same bits, as libtorch's `Half` stores them.
impl Elem for half::f16 {
    const KIND: tch::Kind = tch::Kind::Half;
}

const _: () = assert!(std::mem::size_of::<f32>() == 4 && std::mem::size_of::<half::f16>() == 2 && std::mem::align_of::<half::f16>() == 2);

/// [`for_rows_mut`] with read-only access to `inputs` (contiguous CPU tensors of `I`, whole, in
/// the order given) and the index of the first row of each run: `f(first_row, rows, inputs)`;
/// the output's elements are `O` (fp32 or half precision, as the inputs).
/// An input whose memory overlaps `t`'s is refused, as Rust allows no shared view of memory
/// that is being written. As with every tensor handed to Rust as a slice, nothing else may
/// touch these tensors' memory while the call runs: no other thread, and not `f` itself
/// through libtorch (writing an input, or reading the output, through another view of it);
/// libtorch cannot say whether anything does.
pub fn for_rows_mut_reading<O: Elem, I: Elem>(t: &mut tch::Tensor, width: usize, split: Split, inputs: &[&tch::Tensor], f: &(dyn Fn(usize, &mut [O], &[&[I]]) + Sync)) -> crate::Result<()> {
    let n = t.numel();
    if let Split::Bounds(b) = split {
        let rows = if width == 0 { 0 } else { n / width };
        if b.len() < 2 || b[0] != 0 || b[b.len() - 1] != rows || b.windows(2).any(|w| w[0] > w[1]) {
            return Err(crate::Error::Usage(format!("for_rows_mut_reading: bounds {b:?} must rise from 0 to the {rows} rows")));
        }
    }
    if !plain(t, O::KIND) || t.requires_grad() || width == 0 || !n.is_multiple_of(width) {
        return Err(crate::Error::Usage(format!(
            "for_rows_mut[_reading] needs a contiguous {:?} CPU tensor of rows of {width} that autograd does not track, not {:?} {:?} on {:?} (requires_grad {})",
            O::KIND,
            t.kind(),
            t.size(),
            t.device(),
            t.requires_grad()
        )));
    }
    let base = t.data_ptr() as usize;
    let out = base..base + n * std::mem::size_of::<O>();
    let mut views: Vec<(usize, usize)> = Vec::with_capacity(inputs.len());
    for (i, x) in inputs.iter().enumerate() {
        let (p, len) = (x.data_ptr() as usize, x.numel());
        let r = p..p + len * std::mem::size_of::<I>();
        if !plain(x, I::KIND) || (len > 0 && n > 0 && r.start < out.end && out.start < r.end) {
            return Err(crate::Error::Usage(format!("input {i} of for_rows_mut_reading must be a contiguous {:?} CPU tensor apart from the output, not {:?} {:?} on {:?}", I::KIND, x.kind(), x.size(), x.device())));
        }
        views.push((p, len));
    }
    #[allow(unsafe_code)]
    // SAFETY: each input is a contiguous CPU tensor of `len` elements of `I` (its kind is
    // `I::KIND`, whose values `I` lays out) from its `data_ptr` (checked above), borrowed for this call; its memory is apart from `t`'s (checked
    // above), so no slice made below for writing overlaps these shared ones. That nothing writes
    // it meanwhile (another thread, or `f` through libtorch) is the caller's part (see above).
    let ins: Vec<&[I]> = views.iter().map(|&(p, len)| if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(p as *const I, len) } }).collect();
    #[allow(unsafe_code)]
    let task = |begin: usize, end: usize| {
        if begin == end {
            return; // no rows (and an empty tensor's data pointer may be null)
        }
        // SAFETY: `t` is a contiguous CPU tensor of `n` elements of `O` (its kind is `O::KIND`)
        // from `data_ptr` (checked above), alive and mutably borrowed for this call. Rows
        // `begin..end` lie inside it (`begin ≤ end ≤ n / width`: `parallel_for`'s ranges, or
        // bounds checked above to rise to the row count), and concurrent tasks get disjoint
        // ranges (`parallel_for`'s are, and rising bounds map them to disjoint rows), so this
        // slice is the only Rust reference to its memory while it lives.
        let part = unsafe { std::slice::from_raw_parts_mut((base as *mut O).add(begin * width), (end - begin) * width) };
        f(begin, part, &ins);
    };
    match split {
        Split::Grain(grain) => parallel_for(n / width, grain, &task),
        Split::Bounds(b) => parallel_for(b.len() - 1, 1, &|p, q| task(b[p], b[q])),
    }
    Ok(())
}

/// Memory that holds exactly the tensor's values, in order: a contiguous CPU tensor of `kind`
/// that is not a lazily negated view (whose memory holds the values before negation).
fn plain(t: &tch::Tensor, kind: tch::Kind) -> bool {
    t.device() == tch::Device::Cpu && t.kind() == kind && t.is_contiguous() && !t.is_neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn ranges_cover_every_index_once_on_the_pool() {
        tch::set_num_threads(2);
        for (n, grain) in [(1, 1), (10, 3), (1000, 7), (5, 100), (5, 4)] {
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            let ranges = Mutex::new(Vec::new());
            parallel_for(n, grain, &|b, e| {
                ranges.lock().expect("not poisoned").push((b, e));
                for s in &seen[b..e] {
                    s.fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "n {n} grain {grain}");
            let r = ranges.into_inner().expect("not poisoned");
            assert!(r.iter().all(|&(b, e)| e > b), "{r:?}");
            if n >= 2 * grain {
                assert!(r.len() == 2, "n {n} grain {grain} on 2 threads ({} in tch): {r:?}", tch::get_num_threads());
            }
        }
        parallel_for(0, 1, &|_, _| panic!("no range of an empty loop"));
        let whole = Mutex::new(Vec::new());
        parallel_for(5, usize::MAX, &|b, e| whole.lock().expect("not poisoned").push((b, e)));
        assert_eq!(whole.into_inner().expect("not poisoned"), vec![(0, 5)], "a grain past i64::MAX: one range");
    }

    #[test]
    fn rows_are_written_in_place_once_each() {
        tch::set_num_threads(2);
        let mut t = tch::Tensor::arange(60, (tch::Kind::Float, tch::Device::Cpu)).view([20, 3]);
        let lens = Mutex::new(Vec::new());
        for_rows_mut(&mut t, 3, 4, &|rows| {
            lens.lock().expect("not poisoned").push(rows.len());
            rows.iter_mut().for_each(|v| *v = -*v);
        })
        .expect("a contiguous fp32 tensor");
        let want = -tch::Tensor::arange(60, (tch::Kind::Float, tch::Device::Cpu)).view([20, 3]);
        assert!(t.equal(&want));
        let lens = lens.into_inner().expect("not poisoned");
        assert!(lens.len() == 2 && lens.iter().all(|l| l % 3 == 0), "{lens:?}");
        let bad = [t.tr(), t.to_kind(tch::Kind::Double), t.copy().set_requires_grad(true)];
        for mut b in bad {
            assert!(for_rows_mut(&mut b, 3, 1, &|_| ()).is_err());
        }
        assert!(for_rows_mut(&mut t, 7, 1, &|_| ()).is_err(), "60 is not a whole number of rows of 7");
    }

    /// Each run learns the index of its first row and reads the inputs whole; an input that
    /// shares memory with the output, is strided or is a lazily negated view is refused.
    #[test]
    fn rows_are_written_from_inputs_read_whole() {
        tch::set_num_threads(2);
        let opts = (tch::Kind::Float, tch::Device::Cpu);
        let mut out = tch::Tensor::zeros([10, 2], opts);
        let (a, b) = (tch::Tensor::arange(10, opts), tch::Tensor::from_slice(&[100f32]));
        for_rows_mut_reading::<f32, f32>(&mut out, 2, Split::Grain(3), &[&a, &b], &|first, rows, ins| {
            assert_eq!((ins[0].len(), ins[1].len()), (10, 1));
            for (i, r) in rows.chunks_exact_mut(2).enumerate() {
                r[0] = ins[0][first + i];
                r[1] = ins[1][0] - (first + i) as f32;
            }
        })
        .expect("inputs apart from the output");
        let want: Vec<f32> = (0..10).flat_map(|i| [i as f32, 100.0 - i as f32]).collect();
        assert_eq!(Vec::<f32>::try_from(out.reshape([-1])).expect("floats"), want);
        let view = out.narrow(0, 4, 2);
        assert!(for_rows_mut_reading::<f32, f32>(&mut out, 2, Split::Grain(1), &[&view], &|_, _, _| ()).is_err(), "an input inside the output");
        assert!(for_rows_mut_reading::<f32, f32>(&mut out, 2, Split::Grain(1), &[&a.view([2, 5]).tr()], &|_, _, _| ()).is_err(), "a strided input");
        let negated = a.internal_neg_view();
        assert!(negated.is_neg() && negated.is_contiguous());
        assert!(for_rows_mut_reading::<f32, f32>(&mut out, 2, Split::Grain(1), &[&negated], &|_, _, _| ()).is_err(), "a lazily negated input (its memory holds a, not -a)");
        // parts at given bounds, an empty one among them: each row once, from its part's run
        let runs = Mutex::new(Vec::new());
        let mut t = tch::Tensor::zeros([10, 2], opts);
        for_rows_mut_reading::<f32, f32>(&mut t, 2, Split::Bounds(&[0, 7, 7, 10]), &[&a], &|first, rows, ins| {
            runs.lock().expect("not poisoned").push((first, rows.len() / 2));
            rows.iter_mut().enumerate().for_each(|(i, v)| *v += ins[0][first + i / 2] + 1.0);
        })
        .expect("rising bounds");
        let want: Vec<f32> = (0..10).flat_map(|i| [i as f32 + 1.0; 2]).collect();
        assert_eq!(Vec::<f32>::try_from(t.reshape([-1])).expect("floats"), want);
        let mut r = runs.into_inner().expect("not poisoned");
        r.sort();
        assert_eq!(r.iter().filter(|x| x.1 > 0).copied().collect::<Vec<_>>(), vec![(0, 7), (7, 3)]);
        let mut empty = tch::Tensor::zeros([0, 2], opts);
        for_rows_mut_reading::<f32, f32>(&mut empty, 2, Split::Bounds(&[0, 0]), &[], &|_, _, _| panic!("no rows to hand out")).expect("an empty tensor");
        for bad in [&[0, 11][..], &[1, 10], &[0, 6, 5, 10], &[10], &[], &[0, 5]] {
            assert!(for_rows_mut_reading::<f32, f32>(&mut t, 2, Split::Bounds(bad), &[], &|_, _, _| ()).is_err(), "{bad:?}");
        }
    }

    /// Half-precision tensors are handed out as `half::f16`, read or written (the bits libtorch
    /// stores), and a tensor of another kind than the one asked for is refused.
    #[test]
    fn half_precision_rows_are_read_and_written_as_f16() {
        use half::f16;
        tch::set_num_threads(2);
        let opts = (tch::Kind::Float, tch::Device::Cpu);
        let x = tch::Tensor::from_slice(&[0.1f32, -2.5, 65504.0, 3.0e-6, 1.0, -0.0]);
        let mut h = tch::Tensor::zeros([3, 2], (tch::Kind::Half, tch::Device::Cpu));
        for_rows_mut_reading::<f16, f32>(&mut h, 2, Split::Grain(1), &[&x], &|first, rows, ins| {
            rows.iter_mut().enumerate().for_each(|(i, o)| *o = f16::from_f32(ins[0][2 * first + i]));
        })
        .expect("a half output, an fp32 input");
        assert!(h.view([-1]).equal(&x.to_kind(tch::Kind::Half)), "libtorch reads other values than were written");
        let mut back = tch::Tensor::zeros([6], opts);
        for_rows_mut_reading::<f32, f16>(&mut back, 1, Split::Grain(2), &[&h], &|first, rows, ins| {
            rows.iter_mut().enumerate().for_each(|(i, o)| *o = ins[0][first + i].to_f32());
        })
        .expect("an fp32 output, a half input");
        assert!(back.equal(&x.to_kind(tch::Kind::Half).to_kind(tch::Kind::Float)));
        assert!(for_rows_mut_reading::<f16, f32>(&mut back, 1, Split::Grain(1), &[&x], &|_, _, _| ()).is_err(), "an fp32 output taken as half");
        assert!(for_rows_mut_reading::<f32, f16>(&mut back, 1, Split::Grain(1), &[&x], &|_, _, _| ()).is_err(), "an fp32 input taken as half");
        // memory overlaps across element sizes: halves read from the fp32 output's own bytes
        let inside = back.view_dtype(tch::Kind::Half).narrow(0, 6, 4);
        assert!(for_rows_mut_reading::<f32, f16>(&mut back, 1, Split::Grain(1), &[&inside], &|_, _, _| ()).is_err(), "an input inside the output's bytes");
    }

    /// A panic in one range reaches the caller as a panic (C++ in between), after the other
    /// ranges have run.
    #[test]
    fn a_panic_in_a_task_is_resumed_in_the_caller() {
        tch::set_num_threads(2);
        let ran = AtomicUsize::new(0);
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parallel_for(100, 10, &|b, e| {
                ran.fetch_add(e - b, Ordering::Relaxed);
                if b == 0 {
                    panic!("task at 0");
                }
            })
        }));
        let msg = got.expect_err("the panic comes back").downcast::<&str>().map(|m| *m).unwrap_or("?");
        assert_eq!(msg, "task at 0");
        assert_eq!(ran.load(Ordering::Relaxed), 100);
    }
}
