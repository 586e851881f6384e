//! Every float32 bit pattern through every float32 kernel, against float64 references.
//!
//! cargo run --release --example exhaustive -- [--level scalar|avx2|avx512] [--only NAME,...]
//!                                              [--step N]   (N > 1: every Nth pattern)
//!
//! Prints per function the largest error in ULP, the input where it occurs, and the fraction of
//! results that are not the correctly rounded value; exits non-zero if a function exceeds its
//! budget or gives a wrong class of result (NaN, infinity or sign of zero).

use std::io::Write;
use std::time::Instant;

use nonlin::accuracy::{Case, cases, sweep_many};
use nonlin::simd::{Level, set_level};

const USAGE: &str = "exhaustive [--level scalar|avx2|avx512|neon] [--only NAME,...] [--step N]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", USAGE);
        return;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(l) = value("--level") {
        let level = Level::from_name(&l).unwrap_or_else(|| panic!("unknown level {l}"));
        let set = set_level(level);
        assert_eq!(set, level, "this CPU does not run {l}");
    }
    let only: Option<Vec<String>> =
        value("--only").map(|s| s.split(',').map(String::from).collect());
    let step: u64 = value("--step").map_or(1, |s| s.parse().expect("--step takes a number"));
    println!(
        "level {}, threads {}, inputs: every {} float32 bit pattern",
        nonlin::level().name(),
        nonlin::parallel::num_threads(),
        if step == 1 {
            "".to_string()
        } else {
            format!("{step}th")
        }
    );
    println!(
        "{:<28}{:>10}{:>8}{:>16}{:>14}{:>8}{:>9}",
        "function", "max ULP", "budget", "at x", "not rounded", "wrong", "seconds"
    );
    // Rows that share a reference (a derivative and its backward with g = 1) are swept
    // together, so the reference is evaluated once.
    let selected: Vec<Case> = cases()
        .into_iter()
        .filter(|c| {
            only.as_ref()
                .is_none_or(|o| o.iter().any(|n| c.name.starts_with(n.as_str())))
        })
        .collect();
    let mut groups: Vec<Vec<&Case>> = Vec::new();
    for case in &selected {
        match groups.last_mut() {
            Some(g) if g[0].reference as usize == case.reference as usize => g.push(case),
            _ => groups.push(vec![case]),
        }
    }
    let mut fail = false;
    for group in groups {
        let t = Instant::now();
        let label = group.iter().map(|c| c.name).collect::<Vec<_>>().join(" + ");
        let stats = sweep_many(&group, step, &|d, total| {
            if d % (1 << 26) < (1 << 20) {
                eprint!("\r{:<28}{:>5.1}%", label, 100.0 * d as f64 / total as f64);
                let _ = std::io::stderr().flush();
            }
        });
        eprint!("\r{:80}\r", "");
        let seconds = t.elapsed().as_secs_f64() / group.len() as f64;
        for (case, st) in group.iter().zip(stats) {
            let over = st.max_ulp > case.budget;
            println!(
                "{:<28}{:>10.3}{:>8}{:>16e}{:>13.4}%{:>8}{:>9.1}{}",
                case.name,
                st.max_ulp,
                case.budget,
                st.worst,
                100.0 * st.not_rounded as f64 / st.count as f64,
                st.wrong,
                seconds,
                if over { "  OVER BUDGET" } else { "" }
            );
            fail |= st.wrong > 0 || over;
        }
    }
    std::process::exit(i32::from(fail));
}
