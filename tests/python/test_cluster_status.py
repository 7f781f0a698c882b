"""Client.status() for a client of a scale-out cluster: the cluster's status (what
`warmpool status --endpoint ... --json` prints), from a real redis-server and two real hosts
(warmpoold + warmpool-gateway, as scale_out_cluster starts them), with the Redis password from the
client's redis_password_file."""

import os
import tempfile

import pytest

import warmpool
from conftest import wait_until
from scale_out_cluster import Cluster


def test_status_of_a_cluster_client_is_the_clusters():
    c = Cluster(hosts=2)
    try:
        client = warmpool.Client(c.endpoint)

        def both_live_with_workers():
            s = client.status()
            return len(s["gateways"]) == 2 and all(
                g["state"] == "live" and g["workers"]["total"] == 2 for g in s["gateways"])

        assert wait_until(both_live_with_workers, timeout=30), (client.status(), c.logs())
        s = client.status()
        assert s["cluster"] == c.name
        assert {g["pool"] for g in s["gateways"]} == {h.pool.name for h in c.hosts}
        assert s["totals"]["live"] == 2 and s["totals"]["lapsed"] == 0
        assert s["totals"]["workers"]["total"] == 4
        assert client.call("gcd", [12, 18]) == 6
        assert {"claims", "duplicates_dropped", "late_after_cancel", "requeued", "poisoned", "deleted_entries",
                "consumers_removed"} <= set(s["counters"])

        # Once Redis wants a password, status() reads it with the client's own password file.
        with tempfile.TemporaryDirectory() as d:
            password_file = os.path.join(d, "password")
            with open(password_file, "w") as f:
                f.write("s3cret\n")
            c.redis.db.config_set("requirepass", "s3cret")
            with_password = warmpool.Client(c.endpoint, redis_password_file=password_file)
            assert with_password.status()["cluster"] == c.name
            with pytest.raises(warmpool.ConnectError, match="NOAUTH"):
                client.status()  # no password of its own: refused
    finally:
        c.stop()
