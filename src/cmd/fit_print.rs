//! The fit report for a person: reach, volume, problems with what to change, capacity, verdict.

use ml_connector::ops::fit::FitReport;

pub fn print(r: &FitReport) {
    println!("Fit report for connection {}", r.connection);
    println!("\nReach");
    for c in &r.reach {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        println!("  {:<22} {mark}  {}", c.check, c.detail);
    }
    if let Some(d) = &r.data {
        println!("\nData (last {} days)", d.window_days);
        let at_least = if d.orders_truncated { "at least " } else { "" };
        println!(
            "  {at_least}{} order change(s), {} a day on average{}",
            d.orders_changed,
            d.orders_changed_per_day,
            d.busiest_day
                .as_ref()
                .map(|(day, n)| format!(", busiest {day} with {n}"))
                .unwrap_or_default()
        );
        println!(
            "  {} open order(s); the newest {} mapped: {} would post, {} skip, {} fail",
            d.open_orders, d.orders_mapped, d.would_post, d.would_skip, d.would_fail
        );
        println!(
            "  {} stock change(s), {} a day on average",
            d.stock_changes, d.stock_changes_per_day
        );
    }
    println!("\nProblems");
    if r.problems.is_empty() {
        println!("  none");
    }
    for p in &r.problems {
        let tag = if p.blocking { " [blocking]" } else { "" };
        println!("  {}{tag}: {}", p.check, p.sentence);
    }
    let c = &r.capacity;
    println!("\nCapacity (busiest day)");
    println!(
        "  ShipStation V1: {} calls a day of {} ({}% headroom)",
        c.v1_calls_per_day, c.v1_budget_per_day, c.headroom_pct
    );
    for cost in &c.v1_costs {
        println!("    {:>8}  {}", cost.calls_per_day, cost.cause);
    }
    match (c.v2_budget_per_day, c.v2_headroom_pct) {
        (Some(b), Some(h)) => {
            println!(
                "  ShipStation V2: {} calls a day of {b} ({h}% headroom)",
                c.v2_calls_per_day
            );
            for cost in &c.v2_costs {
                println!("    {:>8}  {}", cost.calls_per_day, cost.cause);
            }
        }
        _ => println!("  ShipStation V2: no V2 key, nothing sent"),
    }
    for n in &r.notes {
        println!("\nNote: {n}");
    }
    println!("\nVerdict: {}", r.verdict.words());
}
