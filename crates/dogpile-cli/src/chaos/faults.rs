//! The faults a chaos run injects, each ending with the cause gone.

use std::time::{Duration, Instant};

use super::server::Server;

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
}

impl Fault {
    pub const ALL: [Fault; 5] = [Fault::Kill, Fault::Pause, Fault::PauseWrite, Fault::Oom, Fault::Rekey];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::PauseWrite => "pause-write",
            Fault::Oom => "oom",
            Fault::Rekey => "rekey",
        }
    }

    /// Whether the fault needs a server this run owns.
    pub fn needs_spawn(self) -> bool {
        matches!(self, Fault::Kill | Fault::Rekey)
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
        }
    }
}
