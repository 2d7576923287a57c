"""In-process tests of the concentratord package: config, store, pipeline, schedule, keys,
priority, timekeeping, control socket, the CLIs, and the daemon run in this process."""
