"""``shipyard info``: which Shipyard this command talks to, and as whom."""

from __future__ import annotations

from shipyard.cli.common import JSON_OPTION, console, home, print_json


def info_cmd(as_json: bool = JSON_OPTION) -> None:
    """The Shipyard a command works on: a team server (its URL, stores and your token's
    name and scopes) or this machine's home."""
    from shipyard import __version__
    from shipyard.client.rest import ServerClient
    from shipyard.client.state import read_state
    from shipyard.home import configured_server

    team = configured_server()
    if team is not None:
        remote = ServerClient(*team).call("GET", "info")
        data = {
            "mode": "team",
            "server": team[0],
            "client_version": __version__,
            "server_version": remote["version"],
            "store": remote["store"],
            "artifacts": remote["artifacts"],
            "identity": remote["identity"],
        }
    else:
        running = read_state(home())
        data = {
            "mode": "local",
            "home": str(home()),
            "client_version": __version__,
            "store": str(home() / "registry.db"),
            "artifacts": str(home() / "artifacts"),
            "server": running["url"] if running else None,
        }
        if running is not None:  # the home's server may have been given other stores
            served = ServerClient(running["url"], running.get("token")).call("GET", "info")
            data.update(store=served["store"], artifacts=served["artifacts"])
    if as_json:
        print_json(data)
        return
    if data["mode"] == "team":
        who = data["identity"]
        console.print(f"team server [bold]{data['server']}[/] (shipyard {data['server_version']})")
        console.print(f"  store:     {data['store']}")
        console.print(f"  artifacts: {data['artifacts']}")
        console.print(f"  you:       {who['name']} ({', '.join(who['scopes'])})")
    else:
        console.print(f"this machine: home [bold]{data['home']}[/] (shipyard {__version__})")
        console.print(f"  store:     {data['store']}")
        console.print(f"  artifacts: {data['artifacts']}")
        server = data["server"] or "none running (commands that need one start it)"
        console.print(f"  server:    {server}")
