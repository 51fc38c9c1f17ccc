#!/usr/bin/env python3
"""
Drives the CML simulator with Cisco's own Python client, virl2-client, used the way its documentation
shows, with no patch and no private call: build a lab node by node, start it and wait for convergence,
extract a node's configuration and read it back, download the lab, then stop, wipe and remove it.

Usage: third-party-client.py URL USERNAME PASSWORD   (run by simulators/cml/third-party-client.test.ts
with the venv that scripts/install-test-services.sh creates). Prints one JSON object on stdout.

The simulator speaks plain HTTP on a loopback port: `allow_http=True` is virl2-client's documented
switch for that, and `ssl_verify=False` what a user of a self-signed controller passes. The convergence
poll interval is the documented `convergence_wait_time` (CML's 5 s default is meant for real VMs).
"""
import json
import sys

from virl2_client import ClientLibrary
from virl2_client.exceptions import APIError

TITLE = "third-party-client"


def connect(url: str, username: str, password: str) -> ClientLibrary:
    return ClientLibrary(
        url,
        username,
        password,
        ssl_verify=False,
        allow_http=True,
        raise_for_auth_failure=True,
        convergence_wait_time=0.05,
        convergence_wait_max_iter=1200,
    )


def main(url: str, username: str, password: str) -> dict:
    out: dict = {}
    client = connect(url, username, password)
    out["controller_version"] = client.system_info()["version"]

    # -- build the lab element by element --------------------------------------------------------
    lab = client.create_lab(title=TITLE, description="built node by node by virl2-client", notes="r1 <-> r2")
    r1 = lab.create_node("r1", "iosv", 0, 0, populate_interfaces=True)
    r2 = lab.create_node("r2", "iosv", 200, 0)
    lab.sync()  # r1's interfaces were made by the server (populate_interfaces): fetch them
    r1.configuration = (
        "hostname r1\n"
        "interface GigabitEthernet0/0\n"
        " ip address 10.0.0.1 255.255.255.252\n"
        " no shutdown\n"
    )
    r2_gi0 = r2.create_interface()
    r2_bulk = lab.create_interface(r2, slot=1)
    link = lab.create_link(r1.get_interface_by_label("GigabitEthernet0/0"), r2_gi0)
    out["lab"] = {"id": lab.id, "title": lab.title, "description": lab.description, "notes": lab.notes}
    out["interfaces"] = {n.label: [i.label for i in n.interfaces()] for n in lab.nodes()}
    out["r2_slot1"] = {"label": r2_bulk.label, "slot": r2_bulk.slot}
    out["link"] = {
        "id": link.id,
        "ends": sorted(f"{i.node.label}:{i.label}" for i in link.interfaces),
        "connected": [r2_gi0.connected, r2_bulk.connected],
    }

    # -- a node that does not run has no running configuration -----------------------------------
    try:
        r1.extract_configuration()
        out["extract_before_start"] = None
    except APIError as error:
        out["extract_before_start"] = {"status": error.response.status_code, "message": str(error)}

    # -- start and wait until converged ----------------------------------------------------------
    lab.start()  # waits for convergence (the lab's default)
    out["converged"] = lab.has_converged()
    out["lab_state"] = lab.state()
    out["node_states"] = {n.label: n.state for n in lab.nodes()}
    out["link_state"] = link.state
    lab.sync(topology_only=False)  # topology, statistics, layer-3 addresses, operational data
    out["cpu_usage"] = {n.label: n.cpu_usage for n in lab.nodes()}
    out["consoles"] = {n.label: len(n.operational.get("serial_consoles") or []) for n in lab.nodes()}

    # -- extract the running configuration and read it back --------------------------------------
    r1.extract_configuration()
    r2.extract_configuration()
    out["configuration"] = {"r1": r1.configuration, "r2": r2.configuration}

    # -- another session finds the lab by title and joins it -------------------------------------
    other = connect(url, username, password)
    found = other.find_labs_by_title(TITLE)
    joined = found[0] if found else None
    out["joined"] = None if joined is None else {
        "id": joined.id,
        "nodes": sorted(n.label for n in joined.nodes()),
        "links": len(joined.links()),
        "r1_configuration": joined.get_node_by_label("r1").configuration,
    }
    other.logout()

    # -- download, then tear down in CML's order -------------------------------------------------
    out["download"] = lab.download()
    lab.stop()
    out["state_after_stop"] = lab.state()
    lab.wipe()
    out["state_after_wipe"] = lab.state()
    lab.remove()
    out["labs_after_remove"] = client.get_lab_list()
    out["logout"] = client.logout()
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: third-party-client.py URL USERNAME PASSWORD")
    print(json.dumps(main(*sys.argv[1:4])))
