//! The faults a chaos run injects, each ending with the cause gone.

use std::time::{Duration, Instant};

use dogpile_servers::NetFault;

use super::server::Server;

/// The latency fault's delay, each way.
const LATENCY: Duration = Duration::from_millis(50);
/// The slow reader's rate.
const SLOW_READER_BYTES_PER_SECOND: usize = 4 * 1024;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL the server (its data goes with it), restart it on the same port.
    Kill,
    /// `CLIENT PAUSE .. ALL`: the server answers nothing (a stalled or overloaded server).
    Pause,
    /// `CLIENT PAUSE .. WRITE`: reads go on, writes wait (what Redis does during a failover).
    PauseWrite,
    /// `maxmemory` below what is used, under `noeviction`: every write is refused with OOM.
    Oom,
    /// The password is rotated and every client dropped; then the old one is valid again.
    Rekey,
    /// 50 ms added each way between the cache and the server.
    Latency,
    /// Nothing passes and nothing is closed (no FIN, no RST), as when the server's host is gone;
    /// the connections it swallowed stay silent after it.
    Blackhole,
    /// Every reply cut halfway and its connection reset (RST).
    Reset,
    /// The server's replies read at 4 KiB/s.
    SlowReader,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::Kill,
        Fault::Pause,
        Fault::PauseWrite,
        Fault::Oom,
        Fault::Rekey,
        Fault::Latency,
        Fault::Blackhole,
        Fault::Reset,
        Fault::SlowReader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::PauseWrite => "pause-write",
            Fault::Oom => "oom",
            Fault::Rekey => "rekey",
            Fault::Latency => "latency",
            Fault::Blackhole => "blackhole",
            Fault::Reset => "reset",
            Fault::SlowReader => "slow-reader",
        }
    }

    /// Whether the fault needs a server this run owns (and the proxy in front of it).
    pub fn needs_spawn(self) -> bool {
        !matches!(self, Fault::Pause | Fault::PauseWrite | Fault::Oom)
    }

    /// The proxy's fault for a network fault.
    fn net_fault(self) -> Option<NetFault> {
        match self {
            Fault::Latency => Some(NetFault::Latency(LATENCY)),
            Fault::Blackhole => Some(NetFault::Blackhole),
            Fault::Reset => Some(NetFault::Reset),
            Fault::SlowReader => Some(NetFault::SlowReader { bytes_per_second: SLOW_READER_BYTES_PER_SECOND }),
            _ => None,
        }
    }

    /// Causes the fault for about `length` and removes its cause; returns when the cause is
    /// gone (the restarted server answers, the pause is over, the limit or password is back).
    pub fn inject(self, server: &mut Server, length: Duration) -> Result<Instant, String> {
        let millis = length.as_millis().max(1).to_string();
        match self {
            Fault::Kill => {
                server.kill_and_restart(length)?;
                Ok(Instant::now())
            }
            Fault::Pause | Fault::PauseWrite => {
                let mode = if self == Fault::Pause { "ALL" } else { "WRITE" };
                let start = Instant::now();
                server.command(&["CLIENT", "PAUSE", &millis, mode])?;
                std::thread::sleep(length);
                Ok(start + length)
            }
            Fault::Oom => {
                let (limit, policy) = (server.config_get("maxmemory")?, server.config_get("maxmemory-policy")?);
                server.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])?;
                server.command(&["CONFIG", "SET", "maxmemory", "1"])?;
                std::thread::sleep(length);
                let restored = server.command(&["CONFIG", "SET", "maxmemory", &limit]).and(server.command(&[
                    "CONFIG",
                    "SET",
                    "maxmemory-policy",
                    &policy,
                ]));
                restored
                    .map_err(|e| format!("could not restore maxmemory {limit} and maxmemory-policy {policy}: {e}"))?;
                Ok(Instant::now())
            }
            Fault::Rekey => {
                server.rekey(length)?;
                Ok(Instant::now())
            }
            Fault::Latency | Fault::Blackhole | Fault::Reset | Fault::SlowReader => {
                server.net_fault(self.net_fault())?;
                std::thread::sleep(length);
                server.net_fault(None)?;
                Ok(Instant::now())
            }
        }
    }
}
