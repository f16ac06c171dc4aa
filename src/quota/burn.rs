//! Burn rate and projection: how fast a quota is being used, and when it runs out.

const DAY_MS: f64 = 86_400_000.0;

/// Usage of one window seen at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When (Unix ms).
    pub t_ms: i64,
    /// Used in the window open then.
    pub used: f64,
    /// When that window opened, when known: a different start means a reset came between.
    pub window_start_ms: Option<i64>,
}

/// Turns per-window usage into usage accumulated since the first point, so a reset inside
/// the history is not read as negative use: at a reset, what the old window had used is
/// carried over. A drop with no known window start is also taken as a reset.
pub fn cumulative(points: &[Point]) -> Vec<(i64, f64)> {
    let mut sorted: Vec<Point> = points.to_vec();
    sorted.sort_by_key(|p| p.t_ms);
    let mut out = Vec::with_capacity(sorted.len());
    let mut offset = 0.0;
    let mut prev: Option<Point> = None;
    for p in sorted {
        if let Some(q) = prev {
            let reset = match (q.window_start_ms, p.window_start_ms) {
                (Some(a), Some(b)) => a != b,
                _ => p.used < q.used,
            };
            if reset {
                offset += q.used;
            }
        }
        out.push((p.t_ms, offset + p.used));
        prev = Some(p);
    }
    out
}

/// Least-squares slope of `(t_ms, value)` in value per day; `None` with fewer than two
/// distinct instants.
pub fn slope_per_day(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let t0 = points[0].0;
    let n = points.len() as f64;
    let xs: Vec<f64> = points
        .iter()
        .map(|(t, _)| (t - t0) as f64 / DAY_MS)
        .collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let mut sxx = 0.0;
    let mut sxy = 0.0;
    for (x, (_, y)) in xs.iter().zip(points) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    if sxx <= f64::EPSILON {
        return None;
    }
    Some(sxy / sxx)
}

/// When a window runs out at a given burn rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Days from now until the limit is reached; `None` when it never is at this rate.
    pub days_until_exhaustion: Option<f64>,
    /// That instant (Unix ms).
    pub exhaustion_ms: Option<i64>,
    /// Whether it happens before the window's next reset.
    pub runs_out_before_reset: bool,
}

impl Projection {
    const NEVER: Projection = Projection {
        days_until_exhaustion: None,
        exhaustion_ms: None,
        runs_out_before_reset: false,
    };
}

/// Projects `used` of `limit`, growing by `burn_per_day`, from `now_ms`. Past the next reset
/// the window starts again from zero: if the limit is not reached before the reset, the
/// projection continues in the fresh window (and in the ones after it, if `window_ms` is
/// known and one window's worth of burn exceeds the limit; otherwise it never runs out).
pub fn project(
    used: f64,
    limit: f64,
    burn_per_day: Option<f64>,
    now_ms: i64,
    next_reset_ms: Option<i64>,
    window_ms: Option<i64>,
) -> Projection {
    if used >= limit {
        return Projection {
            days_until_exhaustion: Some(0.0),
            exhaustion_ms: Some(now_ms),
            runs_out_before_reset: true,
        };
    }
    let Some(burn) = burn_per_day.filter(|b| *b > 0.0 && b.is_finite()) else {
        return Projection::NEVER;
    };
    let at = |from_ms: i64, amount: f64| from_ms.saturating_add((amount / burn * DAY_MS) as i64);
    let first = at(now_ms, limit - used);
    match next_reset_ms {
        Some(reset) if first >= reset => {
            // Not before the reset; in a fresh window it takes limit / burn days.
            let fresh = at(reset, limit);
            match window_ms {
                Some(w) if fresh < reset.saturating_add(w) => Projection {
                    days_until_exhaustion: Some((fresh - now_ms) as f64 / DAY_MS),
                    exhaustion_ms: Some(fresh),
                    runs_out_before_reset: false,
                },
                _ => Projection::NEVER,
            }
        }
        // Reset time unknown, length known: it can only run out within one window's length.
        None if window_ms.is_some_and(|w| first - now_ms >= w) => Projection::NEVER,
        _ => Projection {
            days_until_exhaustion: Some((first - now_ms) as f64 / DAY_MS),
            exhaustion_ms: Some(first),
            runs_out_before_reset: next_reset_ms.is_some(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = 86_400_000;

    fn p(day: i64, used: f64, start: i64) -> Point {
        Point {
            t_ms: day * D,
            used,
            window_start_ms: Some(start * D),
        }
    }

    #[test]
    fn steady_use_gives_its_rate() {
        let pts: Vec<(i64, f64)> = (0..7).map(|d| (d * D, 100.0 * d as f64)).collect();
        let s = slope_per_day(&pts).unwrap_or(f64::NAN);
        assert!((s - 100.0).abs() < 1e-9, "{s}");
        assert_eq!(slope_per_day(&pts[..1]), None);
        assert_eq!(slope_per_day(&[(5, 1.0), (5, 2.0)]), None);
    }

    #[test]
    fn a_reset_inside_the_history_is_carried_over() {
        // 100 a day; the weekly window resets on day 4 right after that day's point.
        let pts = [
            p(1, 100.0, 0),
            p(2, 200.0, 0),
            p(3, 300.0, 0),
            p(4, 400.0, 0),
            p(5, 100.0, 4),
            p(6, 200.0, 4),
        ];
        let c = cumulative(&pts);
        assert_eq!(
            c.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec![100.0, 200.0, 300.0, 400.0, 500.0, 600.0]
        );
        let s = slope_per_day(&c).unwrap_or(f64::NAN);
        assert!((s - 100.0).abs() < 1e-9, "{s}");
        // Read raw, the drop would hide almost all of it.
        let raw: Vec<(i64, f64)> = pts.iter().map(|p| (p.t_ms, p.used)).collect();
        let r = slope_per_day(&raw).unwrap_or(f64::NAN);
        assert!((r - 150.0 / 17.5).abs() < 1e-9, "{r}");
        // Without window starts, a drop is a reset too.
        let bare: Vec<Point> = pts
            .iter()
            .map(|p| Point {
                window_start_ms: None,
                ..*p
            })
            .collect();
        assert_eq!(cumulative(&bare), c);
    }

    #[test]
    fn projection_before_and_after_the_reset() {
        // 600 of 1000 used, 100 a day, reset in 7 days: out in 4 days, before the reset.
        let pr = project(600.0, 1000.0, Some(100.0), 0, Some(7 * D), Some(7 * D));
        assert_eq!(pr.days_until_exhaustion, Some(4.0));
        assert_eq!(pr.exhaustion_ms, Some(4 * D));
        assert!(pr.runs_out_before_reset);
        // Reset in 2 days: the window starts again, and 1000 at 100 a day lasts 10 days,
        // longer than the 7-day window: never at this rate.
        let pr = project(600.0, 1000.0, Some(100.0), 0, Some(2 * D), Some(7 * D));
        assert_eq!(pr, Projection::NEVER);
        // 200 a day: the fresh window lasts 5 days, from day 2: out on day 7, after a reset.
        let pr = project(600.0, 1000.0, Some(200.0), 0, Some(3 * D / 2), Some(7 * D));
        assert_eq!(pr.exhaustion_ms, Some(3 * D / 2 + 5 * D));
        assert!(!pr.runs_out_before_reset);
        // Already at the limit.
        let pr = project(1000.0, 1000.0, Some(0.0), 5, Some(D), None);
        assert_eq!(pr.days_until_exhaustion, Some(0.0));
        assert!(pr.runs_out_before_reset);
        // Reset time unknown: within a window's length, or never.
        let pr = project(0.0, 100.0, Some(6.0), 0, None, Some(7 * D));
        assert_eq!(pr, Projection::NEVER);
        let pr = project(0.0, 100.0, Some(50.0), 0, None, Some(7 * D));
        assert_eq!(pr.exhaustion_ms, Some(2 * D));
        assert!(!pr.runs_out_before_reset);
        // No use, no end.
        assert_eq!(
            project(10.0, 1000.0, Some(0.0), 0, None, None),
            Projection::NEVER
        );
        assert_eq!(
            project(10.0, 1000.0, None, 0, None, None),
            Projection::NEVER
        );
    }
}
