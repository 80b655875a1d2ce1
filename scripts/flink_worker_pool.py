"""An SDK worker pool for a Flink cluster of several TaskManagers: flink_worker_pool.py PORT.

Beam's own pool (``apache_beam.runners.worker.worker_pool_main``, and the LOOPBACK pool inside
the launching process) keys its workers by the id the runner sends. Every TaskManager JVM numbers
its SDK environments from 1 (``1-1``, ``2-1``, ...), so with two TaskManagers on one pool the ids
collide: when TaskManager B is done with its ``1-1`` and sends StopWorker, the pool stops
TaskManager A's ``1-1`` in the middle of a bundle, and the job fails with ``SDK harness closed
connection`` (seen here on the demo with LOOPBACK and with Beam's EXTERNAL pool alike).
This pool ignores the id on StopWorker: a worker ends when the runner closes its control stream
(which it does right after StopWorker), so nothing needs stopping by id. Workers are threads of
this process (like LOOPBACK) unless ``--processes`` is given.
"""

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, Optional

from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer


class SharedWorkerPool(BeamFnExternalWorkerPoolServicer):
    """Beam's worker pool, minus stopping workers by an id that is not unique across JVMs."""

    def StopWorker(
        self, stop_worker_request: beam_fn_api_pb2.StopWorkerRequest, unused_context: Any
    ) -> beam_fn_api_pb2.StopWorkerResponse:
        """Forget finished workers; never stop one by id (another TaskManager may own it)."""
        for worker_id, process in list(self._worker_processes.items()):
            if process.poll() is not None:
                del self._worker_processes[worker_id]
        self._worker_threads.pop(stop_worker_request.worker_id, None)
        return beam_fn_api_pb2.StopWorkerResponse()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve the pool on 127.0.0.1:PORT until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--processes", action="store_true", help="one process per SDK worker")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    address, server = SharedWorkerPool.start(use_process=args.processes, port=args.port)
    logging.info("worker pool at %s (processes: %s)", address, args.processes)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
