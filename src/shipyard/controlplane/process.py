"""``shipyard server``: the control plane process — REST API, controller, targets, alerting.

On one machine it keeps its state in the home's SQLite file and artifact directory;
for a team it is given a PostgreSQL URL (``--store``) and an artifact location
(``--artifacts``: a directory or ``s3://bucket/prefix``). It records where it
listens in ``HOME/run/server.json`` (mode 0600) so the CLI on the same host finds
it. Stopping it stops only the control plane: deployments keep serving, and the
next server adopts them.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from shipyard import jsonio
from shipyard.client.rest import URL_ENV
from shipyard.client.state import (
    TOKEN_ENV,
    ServerOptions,
    hold_lock,
    is_loopback,
    read_state,
    state_file,
)
from shipyard.errors import InvalidInputError
from shipyard.home import ARTIFACTS_ENV, STORE_ENV, write_private

_log = logging.getLogger("shipyard.controlplane")


def _check_tls(options: ServerOptions) -> None:
    if (options.tls_cert is None) != (options.tls_key is None):
        raise InvalidInputError(
            "--tls-cert and --tls-key go together", hint="give both PEM files, or neither"
        )
    for path in (options.tls_cert, options.tls_key):
        if path is not None and not path.is_file():
            raise InvalidInputError(f"no such file: {path}", hint="give a PEM file")


def serve(home: Path, options: ServerOptions, on_ready: Callable[[str], None]) -> None:
    """Run the control plane until SIGTERM or Ctrl-C."""
    _check_tls(options)
    lock = hold_lock(home)
    import uvicorn

    from shipyard.controlplane.access import Authenticator
    from shipyard.controlplane.app import create_app
    from shipyard.controlplane.context import ServerContext
    from shipyard.deploy.controller import Controller
    from shipyard.deploy.engine import CONTROLLER, Engine
    from shipyard.deploy.service import DeployService
    from shipyard.k8s.target import KubernetesTarget
    from shipyard.monitor.actions import Actions
    from shipyard.monitor.alerting import Alerting
    from shipyard.monitor.scraper import Scraper
    from shipyard.monitor.service import MonitorService
    from shipyard.process_info import boot_id
    from shipyard.serving.supervisor import bind
    from shipyard.store import open_stores
    from shipyard.store.location import shown_location
    from shipyard.targets.contract import Targets
    from shipyard.targets.local import LocalTarget
    from shipyard.ui.sessions import Sessions

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The model servers and validation workers it starts read the same stores, and never
    # a team server's: this is the server.
    os.environ.pop(URL_ENV, None)
    for env, value in ((STORE_ENV, options.store), (ARTIFACTS_ENV, options.artifacts)):
        if value:
            os.environ[env] = value
    stores = open_stores(home, metadata=options.store, artifacts=options.artifacts)
    try:
        if not is_loopback(options.host) and not options.token and not stores.tokens.list_tokens():
            raise InvalidInputError(
                f"refusing to listen on {options.host} without tokens: anyone who can reach it "
                "could deploy and roll back",
                hint=f"set ${TOKEN_ENV} (or --token) to a bootstrap admin token, or make named "
                "tokens first (`shipyard tokens create NAME --scope admin --store URL`), or "
                "listen on 127.0.0.1",
            )
        if not is_loopback(options.host) and options.tls_cert is None:
            _log.warning(
                "listening on %s without TLS: tokens travel in clear; give --tls-cert and "
                "--tls-key, or put a TLS proxy in front",
                options.host,
            )
        sock = bind(options.host, options.port)
    except BaseException:
        stores.close()
        os.close(lock)
        raise
    token = options.token or secrets.token_urlsafe(24)  # always one: any local process could call
    engine = Engine(
        stores,
        Targets(
            {
                "local": lambda: LocalTarget(stores, CONTROLLER),
                "kubernetes": lambda: KubernetesTarget(stores, CONTROLLER),
            }
        ),
    )
    controller = Controller(engine)
    scraper = Scraper(stores, engine.target, interval=options.scrape_interval)
    service = DeployService(stores, engine)
    alerting = Alerting(stores, scraper, Actions(stores, service))
    ctx = ServerContext(
        stores=stores,
        deploy=service,
        controller=controller,
        scraper=scraper,
        monitor=MonitorService(stores, alerting),
        authenticator=Authenticator(stores.tokens, token),
        home=str(home),
        store_location=shown_location(options.store or str(home / "registry.db")),
        artifacts_location=shown_location(options.artifacts or str(home / "artifacts")),
        sessions=Sessions(),
    )
    scheme = "https" if options.tls_cert else "http"
    url = f"{scheme}://{options.host}:{sock.getsockname()[1]}"
    path = state_file(home)
    me = os.getpid()
    state = {"url": url, "pid": me, "boot_id": boot_id(me), "home": str(home), "token": token}
    write_private(path, jsonio.dumps(state))
    config = uvicorn.Config(
        create_app(ctx),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
        ssl_keyfile=str(options.tls_key) if options.tls_key else None,
    )
    server = uvicorn.Server(config)
    controller.start()
    alerting.start()
    scraper.start()
    on_ready(url)
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        scraper.stop()
        alerting.stop()
        controller.stop()
        if (read_state(home) or {}).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
        stores.close()
        os.close(lock)
