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
    let first = pick(&tiers, &w, &|_| false).map(|(t, s)| (t, s.index));
    let tried: Vec<String> = first
        .map(|(t, i)| vec![tiers[t][i].label.clone()])
        .unwrap_or_default();
    let second = pick(&tiers, &w, &|c: &Candidate| tried.contains(&c.label))
        .map(|(t, s)| tiers[t][s.index].label.clone());
    let mut tried = tried;
    tried.extend(second);
    let none = |_: &Candidate| false;
    let skip_tried = |c: &Candidate| tried.contains(&c.label);
    // Warm up caches and the branch predictor.
    for _ in 0..1000 {
        std::hint::black_box(pick(std::hint::black_box(&tiers), &w, &none));
    }
    let runs = 20_000;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(pick(std::hint::black_box(&tiers), &w, &none));
        t.push(s.elapsed().as_nanos());
    }
    report("pick of 1,000 (select)", t);
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(pick(std::hint::black_box(&tiers), &w, &skip_tried));
        t.push(s.elapsed().as_nanos());
    }
    report("pick of 1,000, 2 tried", t);
    // One provider holding all 1,000: every candidate is scored.
    let one: Vec<&[Candidate]> = vec![&cands];
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(pick(std::hint::black_box(&one), &w, &none));
        t.push(s.elapsed().as_nanos());
    }
    report("pick, one provider of 1,000", t);
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(rank(std::hint::black_box(&cands), &w));
        t.push(s.elapsed().as_nanos());
    }
    report("rank of 1,000 (--explain)", t);

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
    let mut t = Vec::with_capacity(200);
    for _ in 0..200 {
        let s = Instant::now();
        std::hint::black_box(store.load(&keys, 2).expect("load"));
        t.push(s.elapsed().as_nanos());
    }
    report("state of 1,000 from SQLite", t);
}
