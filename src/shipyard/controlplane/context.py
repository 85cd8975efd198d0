"""What the control plane's handlers reach: the services, the stores they share, the token
check. Built once by ``process.serve``."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.controlplane.access import Authenticator
from shipyard.deploy.controller import Controller
from shipyard.deploy.service import DeployService
from shipyard.monitor.scraper import Scraper
from shipyard.monitor.service import MonitorService
from shipyard.store import Stores
from shipyard.ui.sessions import Sessions


@dataclass(frozen=True, slots=True)
class ServerContext:
    """The running control plane, as its handlers see it."""

    stores: Stores
    deploy: DeployService
    controller: Controller
    scraper: Scraper
    monitor: MonitorService
    authenticator: Authenticator
    home: str
    store_location: str  # the metadata store, shown without its password
    artifacts_location: str
    sessions: Sessions  # the web UI's signed-in browsers
