"""mwaa-drill: disaster-recovery drills for two-Region Apache Airflow.

The harness knows scenarios, histories, checkers and reports; it drives the DR logic of
`reference_impl` through its ports and knows nothing of the strategies' internals.
"""

__version__ = "0.1.0"
