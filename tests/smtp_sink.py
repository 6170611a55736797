"""A real SMTP server for the tests (aiosmtpd) that writes each message it accepts into a
folder as a .eml file. Usage: python smtp_sink.py PORT FOLDER. Prints "ready" once listening."""
import pathlib
import signal
import sys
import time
import uuid

from aiosmtpd.controller import Controller


class FolderSink:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
        tmp = self.folder / (name + ".part")
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.folder / name)  # readers never see half a message
        return "250 OK"


def main() -> None:
    port, folder = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(FolderSink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
