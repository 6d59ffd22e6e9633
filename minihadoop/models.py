"""Wire models: the only things the namenode, datanodes and clients share.

The namenode and datanode packages never import each other; they meet here. Every request
body is validated against one of these models, so malformed input is refused at the edge.
"""

from __future__ import annotations

import struct
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

BlockId = Annotated[int, Field(ge=1, lt=1 << 63)]
NonNegative = Annotated[int, Field(ge=0, lt=1 << 63)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileType(StrEnum):
    FILE = "FILE"
    DIRECTORY = "DIRECTORY"


class DatanodeState(StrEnum):
    LIVE = "LIVE"
    DEAD = "DEAD"
    DECOMMISSIONING = "DECOMMISSIONING"
    DECOMMISSIONED = "DECOMMISSIONED"


class Block(Wire):
    """A block of a file: its id, generation stamp and length in bytes."""

    block_id: BlockId
    gen: NonNegative = 0
    length: NonNegative = 0


class DatanodeRef(Wire):
    id: str
    url: str
    rack: str = "/default-rack"


class LocatedBlock(Wire):
    block: Block
    offset: NonNegative
    locations: list[DatanodeRef]
    corrupt: bool = False
    token: str = ""  # a block access token, for a reader without the cluster token


class FileStatus(Wire):
    path: str
    type: FileType
    length: NonNegative = 0
    replication: int = 0
    block_size: int = 0
    modification_time: int = 0  # ms since the epoch, as WebHDFS has it
    access_time: int = 0
    owner: str = ""
    group: str = ""
    permission: str = "755"
    children_num: int = 0
    file_id: int = 0

    @property
    def is_dir(self) -> bool:
        return self.type is FileType.DIRECTORY

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"

    def to_webhdfs(self, path_suffix: str) -> dict[str, Any]:
        """This status in WebHDFS's FileStatus shape (Hadoop 3 fields)."""
        return webhdfs_file_status(
            self.type, self.length, self.replication, self.block_size, self.children_num,
            self.modification_time, self.access_time, self.owner, self.group,
            self.permission, self.file_id, path_suffix,
        )  # fmt: skip


def webhdfs_file_status(
    kind: FileType,
    length: int,
    replication: int,
    block_size: int,
    children_num: int,
    modification_time: int,
    access_time: int,
    owner: str,
    group: str,
    permission: str,
    file_id: int,
    path_suffix: str,
) -> dict[str, Any]:
    """WebHDFS's FileStatus (Hadoop 3 fields): of a `FileStatus`, or straight from an inode
    (the namenode's GETFILESTATUS, without the model between)."""
    return {
        "accessTime": access_time,
        "blockSize": block_size,
        "childrenNum": children_num,
        "fileId": file_id,
        "group": group,
        "length": length,
        "modificationTime": modification_time,
        "owner": owner,
        "pathSuffix": path_suffix,
        "permission": permission,
        "replication": replication,
        "storagePolicy": 0,
        "type": kind.value,
    }


class LocatedBlocks(Wire):
    status: FileStatus
    blocks: list[LocatedBlock]


MAX_BATCH_PATHS = 1000  # files in one `POST /nn/v1/blocks`: bounds the namesystem lock's hold


class BlocksRequest(Wire):
    paths: list[str] = Field(min_length=1, max_length=MAX_BATCH_PATHS)


MAX_BATCH_BLOCKS = 1000  # blocks in one `POST /dn/v1/blocks/read`
# Each block of its answer: id, length (-1: not served here), bytes per checksum, checksums'
# length; then the checksums, then the block's bytes (little-endian).
BLOCK_READ_HEADER = struct.Struct("<qqii")


class BlockReadRequest(Wire):
    # Strict: JSON's true, 1.0 or "1" is no block id. Unique: one request, one read each.
    blocks: list[Annotated[BlockId, Strict()]] = Field(min_length=1, max_length=MAX_BATCH_BLOCKS)

    @field_validator("blocks")
    @classmethod
    def _each_once(cls, blocks: list[int]) -> list[int]:
        if len(set(blocks)) != len(blocks):
            raise ValueError("a block is asked for more than once")
        return blocks


class LocatedBlocksBatch(Wire):
    files: list[LocatedBlocks]


class BalancerMove(Wire):
    """Move a replica of `block_id` from datanode `source` to datanode `target`."""

    block_id: BlockId
    source: str = Field(min_length=1, max_length=200)
    target: str = Field(min_length=1, max_length=200)


class BalancerMoves(Wire):
    moves: list[BalancerMove] = Field(max_length=10_000)


class ContentSummary(Wire):
    length: int
    file_count: int
    directory_count: int
    space_consumed: int
    quota: int = -1  # names (files and folders, itself included) its tree may hold; -1: none
    space_quota: int = -1  # bytes of replicas its tree may hold; -1: none


# --- client -> namenode ------------------------------------------------------------------


class CreateRequest(Wire):
    path: str
    client: str = Field(min_length=1, max_length=200)
    overwrite: bool = False
    create_parent: bool = True
    replication: int | None = Field(default=None, ge=1, le=512)
    block_size: int | None = Field(default=None, ge=4096, le=1 << 40)
    permission: str | None = Field(default=None, pattern=r"^[01]?[0-7]{3}$")


class AppendRequest(Wire):
    path: str
    client: str = Field(min_length=1, max_length=200)


class AppendResponse(Wire):
    """How to go on writing a file: its block size, and the partial last block (if any)
    whose bytes the writer must send again at the start of the new block replacing it."""

    block_size: int
    bytes_per_checksum: int
    rewrite: LocatedBlock | None = None
    file_id: NonNegative = 0


# A writer names its file by inode id (`file_id`, from create or append) as well as by
# path, so its calls follow the file through renames; 0 means "by path".


class AddBlockRequest(Wire):
    path: str
    client: str
    previous: Block | None = None
    exclude: list[str] = []
    file_id: NonNegative = 0


class CompleteRequest(Wire):
    path: str
    client: str
    last: Block | None = None
    file_id: NonNegative = 0


class AbandonRequest(Wire):
    path: str
    client: str


class MkdirsRequest(Wire):
    path: str
    permission: str | None = Field(default=None, pattern=r"^[01]?[0-7]{3}$")


class DeleteRequest(Wire):
    path: str
    recursive: bool = False
    skip_trash: bool = True


class RenameRequest(Wire):
    src: str
    dst: str


class SetReplicationRequest(Wire):
    path: str
    replication: int = Field(ge=1, le=512)


class BadBlockReport(Wire):
    block_id: BlockId
    datanode_id: str
    reason: str = ""


class DelegationCheckRequest(Wire):
    """A datanode asking whether a delegation token presented to it is live. It sends the
    token's body, not its MAC: it has checked the MAC itself, and the body alone is no
    credential, should a stranger hold a dead namenode's port."""

    body: str = Field(max_length=2048)
    op: str = Field(max_length=64)
    path: str = Field(max_length=8192)


# --- datanode -> namenode ----------------------------------------------------------------


class ReplicaReport(Wire):
    block_id: BlockId
    gen: NonNegative = 0
    length: NonNegative


class RegisterRequest(Wire):
    datanode_id: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=500)
    rack: str = "/default-rack"
    capacity: NonNegative = 0
    used: NonNegative = 0
    remaining: NonNegative = 0


class HeartbeatRequest(Wire):
    datanode_id: str
    capacity: NonNegative = 0
    used: NonNegative = 0
    remaining: NonNegative = 0
    active_transfers: NonNegative = 0
    blocks: NonNegative = 0


class Command(Wire):
    """An instruction for one datanode, carried in a heartbeat reply."""

    # recover: bring the replicas of `block` on `targets` (this node among them) to one
    # length under the recovery id `block.gen`, then commit it (`BlockRecoveryReport`).
    # That length is `block.length` for a truncate's recovery; 0: the shortest replica's.
    kind: Literal["replicate", "delete", "register", "report", "recover"]
    block: Block | None = None
    targets: list[DatanodeRef] = []


class HeartbeatResponse(Wire):
    commands: list[Command] = []
    # Which namenode of a group answered: a datanode reports to every namenode but obeys
    # only the active one (the Raft leader), and never one whose term is older than the
    # newest it has seen from an active namenode (a deposed leader, as HDFS fences by epoch).
    active: bool = True
    term: int = 0


class BlockReportRequest(Wire):
    datanode_id: str
    replicas: list[ReplicaReport]


class IncrementalReportRequest(Wire):
    datanode_id: str
    received: list[ReplicaReport] = []
    deleted: list[BlockId] = []


class BlockRecoveryReport(Wire):
    """A recovery's outcome, from its primary datanode: the length the replicas of the
    block were brought to under the recovery id `gen`, and the nodes that hold it so."""

    block_id: BlockId
    gen: NonNegative
    length: NonNegative
    datanode_ids: list[str] = Field(default=[], max_length=64)


class BlockWriteResult(Wire):
    """A datanode's answer to a pipeline write: which nodes stored the block."""

    stored: list[str]
    failed: list[str] = []
