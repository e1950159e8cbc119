"""The live world: emulated AWS endpoints per Region with a fault layer, S3 replication done
by the harness, and child processes that always go away.

Modules:
- `clock`: the only place that reads the wall clock or sleeps (LiveClock, Deadline).
- `processes`: process groups, a registry that stops them on any exit, ports, bounded waits.
- `moto_server`: the AWS emulator (moto server) as a child process.
- `protocols`: which service a request is for, and AWS error replies per wire protocol.
- `faults`: the fault state per (Region, service), switched at run time.
- `fault_proxy`: the per-Region HTTP proxies that apply faults, and their control API.
- `replication`: S3 cross-Region replication with lag and stalls.
- `safety`: loopback-only endpoints, no real credentials.
- `endpoints`: `LiveAws`, the facade the rest of the harness uses.
"""
