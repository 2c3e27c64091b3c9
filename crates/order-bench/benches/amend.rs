//! `amend/<platform>/full` and `amend/<platform>/floor` for each outbound platform; see the
//! crate docs. Run through `cargo xtask bench`, which reads the medians from
//! `target/criterion/`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use order_bench::Case;

fn amend(c: &mut Criterion) {
    for case in Case::all() {
        let floor = match case.floor_input() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipping {}: {e}", case.name);
                continue;
            }
        };
        if let Err(e) = case.full() {
            eprintln!("skipping {}: {e}", case.name);
            continue;
        }
        let mut g = c.benchmark_group(format!("amend_{}", case.name));
        g.bench_function("full", |b| b.iter(|| black_box(case.full())));
        g.bench_function("floor", |b| b.iter(|| black_box(black_box(&floor).floor())));
        g.finish();
    }
}

criterion_group!(benches, amend);
criterion_main!(benches);
