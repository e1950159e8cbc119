"""The DR logic under test: detection, failover decision, backup and restore, per profile.

It talks to the world only through ports and knows nothing of the simulator or the live stack.
"""
