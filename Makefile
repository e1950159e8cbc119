# The README's two commands. Each one does all its own set-up (scripts/bootstrap.sh).
.PHONY: drill test setup

SCENARIO ?= scenarios/regional-outage-warm-standby.yaml
REPORT_DIR ?= reports

setup:
	@scripts/bootstrap.sh

## make drill: a live drill of the default scenario, printing its RTO/RPO report.
drill: setup
	.venv/bin/mwaa-drill run $(SCENARIO) --report-dir $(REPORT_DIR)

## make test: lint, type checks and tests, as CI runs them.
test: setup
	@scripts/install-browser.sh
	.venv/bin/tox run -e lint,type,unit,contract,integration,integration-airflow2,browser
