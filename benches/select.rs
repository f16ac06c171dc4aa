//! Dispatch selection among 1,000 accounts: the time to pick the account a dispatch runs
//! (`pick` over a chain of 7 providers, as the engine calls it, first with nothing tried and
//! then after two attempts), to rank them all for `--explain` (`rank`), and to read their
//! shared state from the SQLite ledger. Prints p50/p99/max per call. Run:
//! `cargo bench --bench select`.

use std::time::Instant;

use xnai::config::Weights;
use xnai::dispatch::state::{DispatchState, Event};
use xnai::dispatch::{Candidate, Exclusion, pick, rank};

/// A deterministic mix: a fifth excluded, quotas, latencies, context ratios and last uses
/// spread out, some exact ties.
fn candidates(n: usize) -> Vec<Candidate> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            Candidate {
                label: format!("p{}/a{i}", i % 7),
                excluded: (r % 5 == 0).then_some(Exclusion::Rejected),
                quota_left: (r % 3 != 0).then(|| (r % 1000) as f64 / 1000.0),
                critical: r % 11 == 0,
                latency_ms: 500.0 + (next() % 60_000) as f64,
                measured: r % 2 == 0,
                borrowed: false,
                running: (r % 13 == 0) as u32,
                context_ratio: (next() % 1000) as f64 / 1000.0,
                last_used_ms: (r % 4 != 0).then(|| (next() % 1_000_000) as i64),
            }
        })
        .collect()
}

/// Each of `runs` calls of `f`, in ns.
fn time(runs: usize, f: &mut dyn FnMut()) -> Vec<u128> {
    (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_nanos()
        })
        .collect()
}

fn report(name: &str, mut ns: Vec<u128>) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "{name:<34} n={:<6} p50 {:>8.2} µs   p99 {:>8.2} µs   max {:>8.2} µs",
        ns.len(),
        at(0.5),
        at(0.99),
        *ns.last().unwrap_or(&0) as f64 / 1000.0
    );
}

fn main() {
    let w = Weights {
        quota: 0.4,
        latency: 0.3,
        context_fit: 0.3,
    };
    let cands = candidates(1000);
    // The chain: 7 providers of about 143 accounts each, in chain order.
    let groups: Vec<Vec<Candidate>> = (0..7)
        .map(|p| {
            cands
                .iter()
                .filter(|c| c.label.starts_with(&format!("p{p}/")))
                .cloned()
                .collect()
        })
        .collect();
    let tiers: Vec<&[Candidate]> = groups.iter().map(Vec::as_slice).collect();
    // The two accounts a dispatch would have tried first.
    let mut tried: Vec<String> = Vec::new();
    for _ in 0..2 {
        if let Some((t, s)) = pick(&tiers, &w, &|c: &Candidate| tried.contains(&c.label)) {
            tried.push(tiers[t][s.index].label.clone());
        }
    }
    let none = |_: &Candidate| false;
    let skip_tried = |c: &Candidate| tried.contains(&c.label);
    // Warm up caches and the branch predictor.
    time(1000, &mut || {
        std::hint::black_box(pick(std::hint::black_box(&tiers), &w, &none));
    });
    let runs = 20_000;
    report(
        "pick of 1,000 (select)",
        time(runs, &mut || {
            std::hint::black_box(pick(std::hint::black_box(&tiers), &w, &none));
        }),
    );
    report(
        "pick of 1,000, 2 tried",
        time(runs, &mut || {
            std::hint::black_box(pick(std::hint::black_box(&tiers), &w, &skip_tried));
        }),
    );
    // One provider holding all 1,000: every candidate is scored.
    let one: Vec<&[Candidate]> = vec![&cands];
    report(
        "pick, one provider of 1,000",
        time(runs, &mut || {
            std::hint::black_box(pick(std::hint::black_box(&one), &w, &none));
        }),
    );
    report(
        "rank of 1,000 (--explain)",
        time(runs, &mut || {
            std::hint::black_box(rank(std::hint::black_box(&cands), &w));
        }),
    );

    // Shared state of 1,000 accounts from a ledger (one read transaction).
    let dir = tempfile::tempdir().expect("tempdir");
    let store = xnai::store::Store::open(&dir.path().join("xnai.db")).expect("ledger");
    let names: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("p{}", i % 7), format!("a{i}")))
        .collect();
    for (i, (p, a)) in names.iter().enumerate() {
        if i % 3 == 0 {
            store
                .record(
                    p,
                    a,
                    &Event::Success {
                        duration_ms: 1000 + i as i64,
                    },
                    0,
                    1,
                )
                .expect("record");
        }
    }
    let keys: Vec<(&str, &str)> = names
        .iter()
        .map(|(p, a)| (p.as_str(), a.as_str()))
        .collect();
    report(
        "state of 1,000 from SQLite",
        time(200, &mut || {
            std::hint::black_box(store.load(&keys, 2).expect("load"));
        }),
    );
}
