//! The simulated network between validators: how long a message takes on
//! each link ([`Latency`]: a one-way delay with jitter, and stalls during
//! which a link holds everything), and how the appliance's peer layer
//! delivers consensus messages ([`Wire`]: each until the peer
//! acknowledges it, and a validator's current ones again to a peer that
//! may have lost them), as `appliance/src/net/peers` does. Nothing here
//! decides about faults (partitions, drops, crashes): the engine does.

use evote_core::consensus::Message;

use super::rng::Rng;

/// A link's delays: every message takes `one_way_ms ± jitter_ms`; now and
/// then (after a quiet time drawn from `stall_every_ms`) a link stalls for
/// a time drawn from `stall_for_ms` and delivers nothing until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub one_way_ms: u64,
    pub jitter_ms: u64,
    pub stall_every_ms: Option<(u64, u64)>,
    pub stall_for_ms: (u64, u64),
}

impl Latency {
    /// A local network: 1-200 ms (what the simulator always had).
    pub const LAN: Latency = Latency {
        one_way_ms: 100,
        jitter_ms: 99,
        stall_every_ms: None,
        stall_for_ms: (0, 0),
    };

    pub const fn wan(one_way_ms: u64, jitter_ms: u64) -> Latency {
        Latency {
            one_way_ms,
            jitter_ms,
            stall_every_ms: None,
            stall_for_ms: (0, 0),
        }
    }

    /// The same delays, with 2-5 s stalls after `quiet_ms` (drawn in that
    /// range) per link.
    pub const fn with_stalls(self, quiet_ms: (u64, u64)) -> Latency {
        Latency {
            stall_every_ms: Some(quiet_ms),
            stall_for_ms: (2_000, 5_000),
            ..self
        }
    }
}

/// One directed link's stalls, drawn from its own generator as time
/// passes (so that a link's weather does not depend on the order the
/// engine asks about links).
#[derive(Debug, Clone)]
struct Weather {
    rng: Rng,
    /// The stall windows drawn so far: (start, end), in order.
    stalls: Vec<(u64, u64)>,
}

/// Every directed link's delays.
#[derive(Debug, Clone)]
pub struct Links {
    latency: Latency,
    n: usize,
    weather: Vec<Weather>,
}

impl Links {
    pub fn new(latency: Latency, n: usize, seed: u64, start_ms: u64) -> Self {
        let weather = (0..n * n)
            .map(|k| {
                let mut rng = Rng::new(seed ^ 0x11_4E5 ^ ((k as u64) << 20));
                let mut stalls = Vec::new();
                if let Some((lo, hi)) = latency.stall_every_ms {
                    let start = start_ms + rng.range(lo, hi);
                    let (a, b) = latency.stall_for_ms;
                    stalls.push((start, start + rng.range(a, b)));
                }
                Weather { rng, stalls }
            })
            .collect();
        Self {
            latency,
            n,
            weather,
        }
    }

    pub fn latency(&self) -> Latency {
        self.latency
    }

    /// How long a message sent from `from` to `to` at `now` takes, drawn
    /// with the engine's generator (the jitter), its link's weather kept
    /// apart.
    pub fn delay(&mut self, rng: &mut Rng, from: usize, to: usize, now: u64) -> u64 {
        let l = self.latency;
        let lo = l.one_way_ms.saturating_sub(l.jitter_ms).max(1);
        let travel = rng.range(lo, (l.one_way_ms + l.jitter_ms).max(lo));
        let arrives = now + travel;
        match self.stall_over(from, to, now, arrives) {
            Some(end) => end.max(arrives) - now,
            None => travel,
        }
    }

    /// The end of a stall of the link that overlaps `[from_ms, to_ms]`.
    fn stall_over(&mut self, from: usize, to: usize, from_ms: u64, to_ms: u64) -> Option<u64> {
        let (lo, hi) = self.latency.stall_every_ms?;
        let (a, b) = self.latency.stall_for_ms;
        let w = &mut self.weather[from * self.n + to];
        while w.stalls.last().is_some_and(|&(_, end)| end < to_ms) {
            let (_, end) = *w.stalls.last().expect("checked");
            let start = end + w.rng.range(lo, hi);
            let length = w.rng.range(a, b);
            w.stalls.push((start, start + length));
        }
        w.stalls
            .iter()
            .find(|&&(start, end)| start <= to_ms && end >= from_ms)
            .map(|&(_, end)| end)
    }

    /// How many stalls began on any link before `at` (of those drawn so
    /// far: every link that carried a message after `at` has drawn them).
    pub fn stalls_before(&self, at: u64) -> u64 {
        self.weather
            .iter()
            .map(|w| w.stalls.iter().filter(|(start, _)| *start < at).count() as u64)
            .sum()
    }

    /// Whether the link from `from` to `to` stalls at `at`.
    pub fn stalled(&mut self, from: usize, to: usize, at: u64) -> bool {
        self.stall_over(from, to, at, at).is_some()
    }
}

/// The first wait before a message whose delivery failed goes again; it
/// doubles with each failure up to [`MAX_RETRY_WAIT_MS`] (as the peer
/// layer's outbox does).
pub const FIRST_RETRY_WAIT_MS: u64 = 200;
pub const MAX_RETRY_WAIT_MS: u64 = 2_000;
/// How long after a peer restarts or catches up the others notice it
/// (their next status poll) and send it their current messages again.
pub const NOTICE_MS: (u64, u64) = (100, 1_100);

/// The wait before the `attempt`-th retry (0 for the first).
pub fn retry_wait(attempt: u32) -> u64 {
    (FIRST_RETRY_WAIT_MS << attempt.min(4)).min(MAX_RETRY_WAIT_MS)
}

/// What each validator's peer layer holds: the messages of its current
/// height and round (sent again to a peer that may have lost them), and
/// the newest height it sent for (messages below it are dropped rather
/// than retried).
#[derive(Debug, Clone, Default)]
pub struct Wire {
    current: Vec<Current>,
}

#[derive(Debug, Clone, Default)]
struct Current {
    at: (u64, u64),
    messages: Vec<std::sync::Arc<Message>>,
}

impl Wire {
    pub fn new(n: usize) -> Self {
        Self {
            current: vec![Current::default(); n],
        }
    }

    /// Node `i` broadcasts `msg`.
    pub fn note(&mut self, i: usize, msg: &std::sync::Arc<Message>) {
        let c = &mut self.current[i];
        let at = (msg.height(), msg.round());
        if at > c.at {
            c.at = at;
            c.messages.clear();
        }
        if at == c.at {
            c.messages.push(msg.clone());
        }
    }

    /// Node `i` crashed: its peer layer lost everything it held.
    pub fn forget(&mut self, i: usize) {
        self.current[i] = Current::default();
    }

    /// Whether node `i`'s peer layer still tries to deliver `msg`.
    pub fn wanted(&self, i: usize, msg: &Message) -> bool {
        msg.height() >= self.current[i].at.0
    }

    /// What node `i` sends again to a peer that restarted.
    pub fn current(&self, i: usize) -> Vec<std::sync::Arc<Message>> {
        self.current[i].messages.clone()
    }

    /// What node `i` sends again to a peer whose head went from
    /// `before` to `now`: its current messages if the peer was more than a
    /// block behind them and has caught up.
    pub fn after_catch_up(&self, i: usize, before: u64, now: u64) -> Vec<std::sync::Arc<Message>> {
        let parent = self.current[i].at.0.saturating_sub(1);
        if before < parent && now == parent {
            self.current(i)
        } else {
            Vec::new()
        }
    }
}

/// Round trips kept per pair of validators, as the peer layer keeps them
/// (`RTT_SAMPLES` status polls).
pub const RTT_SAMPLES: usize = 8;

/// The round trip the peer layer reports for a validator it has not
/// measured yet (`DEFAULT_ROUND_TRIP_MS` in the appliance).
pub const UNMEASURED_RTT_MS: u64 = 1_000;

/// Each validator's last round trips to each other one.
#[derive(Debug, Clone)]
pub struct RoundTrips {
    n: usize,
    samples: Vec<std::collections::VecDeque<u64>>,
}

impl RoundTrips {
    pub fn new(n: usize) -> Self {
        Self {
            n,
            samples: vec![Default::default(); n * n],
        }
    }

    /// Node `i` restarted: its measurements are gone.
    pub fn forget(&mut self, i: usize) {
        for k in 0..self.n {
            self.samples[i * self.n + k].clear();
        }
    }

    /// Records a round trip from `i` to `k`; the median of the last ones.
    pub fn sample(&mut self, i: usize, k: usize, rtt_ms: u64) -> u64 {
        let s = &mut self.samples[i * self.n + k];
        if s.len() == RTT_SAMPLES {
            s.pop_front();
        }
        s.push_back(rtt_ms);
        let mut sorted: Vec<u64> = s.iter().copied().collect();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_in_their_range_and_a_stall_holds_a_message_to_its_end() {
        let mut rng = Rng::new(1);
        let mut links = Links::new(Latency::wan(150, 50), 3, 9, 0);
        for _ in 0..1000 {
            let d = links.delay(&mut rng, 0, 1, 5_000);
            assert!((100..=200).contains(&d), "{d}");
        }
        let mut stormy = Links::new(Latency::wan(150, 50).with_stalls((15_000, 45_000)), 3, 9, 0);
        let at = (0..200_000u64)
            .step_by(10)
            .find(|&t| stormy.stalled(0, 1, t))
            .expect("a stall within 200 s");
        let end = stormy.stall_over(0, 1, at, at).unwrap();
        assert!(end > at && end - at <= 5_000, "{at} {end}");
        let d = stormy.delay(&mut rng, 0, 1, at);
        assert!(at + d >= end, "delivered during the stall");
        // The link back has weather of its own.
        assert_ne!(
            stormy.stall_over(1, 0, 0, 200_000),
            stormy.stall_over(0, 1, 0, 200_000)
        );
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_wait(0), 200);
        assert_eq!(retry_wait(1), 400);
        assert_eq!(retry_wait(9), MAX_RETRY_WAIT_MS);
    }
}
