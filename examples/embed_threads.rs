//! Embedding: load the rules once, score from many threads. `Scorer` is `Send + Sync`
//! and cheap to clone, so threads may share one compiled copy of the rules; a thread
//! that scores many leads takes its own copy with `Scorer::replica`, so the threads do
//! not contend for the same reference counts and regex caches.
//!
//! ```sh
//! cargo run --example embed_threads
//! ```

use leadscore::{Date, Lead, Rules, Scorer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load and compile once; an error lists every problem with file:line:col.
    let scorer = Scorer::new(Rules::load_dir("rules")?);
    // Pinned, so the output is the same every day; a live system passes today's date.
    let as_of = Date::parse("2026-11-27").ok_or("bad date")?;

    let leads: Vec<Lead> = (0..4_000)
        .map(|i| {
            Lead::from_json(serde_json::json!({
                "id": format!("L-{i}"),
                "email": format!("buyer{i}@acme.com"),
                "budget": (i % 7) * 5_000,
                "pain_points": if i % 3 == 0 { "manual reporting" } else { "" },
                "title": if i % 5 == 0 { "VP Operations" } else { "Analyst" },
            }))
        })
        .collect::<Result<_, _>>()?;

    // Four threads, each scoring its share; `std::thread::scope` lets them borrow the
    // scorer and the leads without `Arc`.
    let per_thread = leads.len().div_ceil(4);
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = leads
            .chunks(per_thread)
            .map(|chunk| {
                let scorer = &scorer;
                scope.spawn(move || {
                    // This thread's own copy: compiled once, used for its 1,000 leads.
                    let scorer = scorer.replica();
                    let mut by_stage = std::collections::BTreeMap::<String, usize>::new();
                    for lead in chunk {
                        let verdict = scorer.score(lead, as_of); // never fails
                        *by_stage.entry(verdict.stage.to_string()).or_default() += 1;
                    }
                    by_stage
                })
            })
            .collect();
        let mut total = std::collections::BTreeMap::<String, usize>::new();
        for worker in workers {
            for (stage, n) in worker.join().unwrap_or_default() {
                *total.entry(stage).or_default() += n;
            }
        }
        total
    });
    for (stage, n) in &counts {
        println!("{stage:>16}: {n}");
    }
    assert_eq!(counts.values().sum::<usize>(), leads.len());
    Ok(())
}
