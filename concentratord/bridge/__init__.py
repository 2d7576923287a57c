"""The battery bridge (``[bridge]``; docs/operations.md, "The battery bridge"; decision
0009): the radio listens in windows (:mod:`.radio_windows`), the uplink connects only to
deliver (:mod:`.uplink_sessions`), both run by :class:`.battery.BatteryBridge`, and both
report what they cost (the power budget)."""
