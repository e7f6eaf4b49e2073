"""Operations shared by every cellsbot process: the correlation id, JSON logs that never carry
a secret, Prometheus helpers and optional OpenTelemetry tracing.

Here, under `topology`, so that the Topology Service, the webhook receiver and the workers can
all import it without `topology` importing `bot` or `worker`. It imports nothing of ours."""
