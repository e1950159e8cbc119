"""Airflow DAG files of the DR logic (deployed to an environment's DAG bucket, not imported)."""
