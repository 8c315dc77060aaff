"""The catalog of public recommendation datasets: where each lives, its checksums, its parser.

Sizes, checksums and counts come from the upstream pages and READMEs (see
docs/datasets.md); a count is None where no published figure was found. `items` counts the items
that appear in the interactions; `items_listed` the rows of the upstream item file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from recsys_cli.data import parsers
from recsys_cli.data.parsers import SourceFiles, Tables
from recsys_cli.errors import DataError

GL = "https://files.grouplens.org/datasets/"
ZEN = "https://zenodo.org/records/"
HF_YAMBDA = "https://huggingface.co/datasets/yandex/yambda/resolve/main/"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file: saved as `name`; `checksum` is `sha256:<hex>` or `md5:<hex>` or None."""

    name: str
    url: str
    checksum: str | None
    size: int | None = None
    approx_size: int | None = None

    @property
    def is_archive(self) -> bool:
        return self.name.endswith(ARCHIVE_SUFFIXES)

    @property
    def display_size(self) -> int | None:
        return self.size if self.size is not None else self.approx_size

    @property
    def max_bytes(self) -> int | None:
        """The most a download may read: the exact size, else twice the approximate one."""
        if self.size is not None:
            return self.size
        return 2 * self.approx_size if self.approx_size is not None else None


@dataclass(frozen=True)
class Counts:
    """Published sizes: interactions, distinct users and items in them, rows of the item file."""

    interactions: int | None = None
    users: int | None = None
    items: int | None = None
    items_listed: int | None = None


@dataclass(frozen=True)
class CatalogEntry:
    """A dataset of the catalog. `storage` names the folder, shared by variants of one archive."""

    name: str
    description: str
    homepage: str
    license: str
    domain: str
    citation: str
    files: tuple[RemoteFile, ...] = ()
    parser: Callable[[SourceFiles], Tables] | None = None
    expected: Counts = field(default_factory=Counts)
    timestamps: str = "none"
    available: bool = True
    unavailable_reason: str = ""
    storage: str = ""

    @property
    def folder(self) -> str:
        return self.storage or self.name

    @property
    def approx_size(self) -> int | None:
        sizes = [f.display_size for f in self.files]
        return None if not sizes or None in sizes else sum(sizes)  # type: ignore[arg-type]

    def require_available(self) -> None:
        if not self.available:
            raise DataError(f"dataset {self.name!r} is not available: {self.unavailable_reason}")


ML_LICENSE = "GroupLens terms: research use, no redistribution, cite Harper & Konstan 2015"
ML_CITE = "F. M. Harper, J. A. Konstan. The MovieLens Datasets: History and Context. ACM TiiS 2015"
CELMA = "O. Celma. Music Recommendation and Discovery in the Long Tail. Springer 2010"
KUAI_CITE = "C. Gao et al. KuaiRec: A Fully-observed Dataset and Insights. CIKM 2022"
KUAI_FILE = RemoteFile(
    "KuaiRec.zip",
    ZEN + "18164998/files/KuaiRec.zip",
    "md5:261550d472c48eff4990fb13c0e5bcf7",
    approx_size=432_000_000,
)
ZEN_LASTFM = ZEN + "6090214/files/"


def _movielens(
    name: str, size: int, checksum: str, description: str, expected: Counts, parser
) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        description=description,
        homepage=f"https://grouplens.org/datasets/movielens/{name.removeprefix('ml-')}/",
        license=ML_LICENSE,
        domain="movies",
        citation=ML_CITE,
        files=(RemoteFile(f"{name}.zip", f"{GL}movielens/{name}.zip", checksum, size),),
        parser=parser,
        expected=expected,
        timestamps="rating time (unix seconds)",
    )


ENTRIES: tuple[CatalogEntry, ...] = (
    _movielens(
        "ml-100k",
        4_924_029,
        "sha256:50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        "MovieLens 100K: 1-5 star ratings, 1998; genres and release year per movie.",
        Counts(100_000, 943, 1_682, 1_682),
        parsers.parse_ml100k,
    ),
    _movielens(
        "ml-1m",
        5_917_549,
        "sha256:a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "MovieLens 1M: 1-5 star ratings, 2000; users with >= 20 ratings.",
        Counts(1_000_209, 6_040, 3_706, 3_883),
        parsers.parse_ml1m,
    ),
    _movielens(
        "ml-20m",
        198_702_078,
        "sha256:96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        "MovieLens 20M: half-star ratings 1995-2015; the strong-generalization benchmark.",
        Counts(20_000_263, 138_493, 26_744, 27_278),
        parsers.parse_movielens_csv,
    ),
    _movielens(
        "ml-25m",
        261_978_986,
        "sha256:8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        "MovieLens 25M: half-star ratings 1995-2019.",
        Counts(25_000_095, 162_541, 59_047, 62_423),
        parsers.parse_movielens_csv,
    ),
    _movielens(
        "ml-32m",
        238_950_008,
        "md5:d472be332d4daa821edc399621853b57",
        "MovieLens 32M: half-star ratings 1995-2023.",
        Counts(32_000_204, 200_948, None, 87_585),
        parsers.parse_movielens_csv,
    ),
    _movielens(
        "ml-latest-small",
        978_202,
        "sha256:696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        "MovieLens latest small (2018 build; 'latest' is rebuilt upstream, so checksums change).",
        Counts(100_836, 610, 9_724, 9_742),
        parsers.parse_movielens_csv,
    ),
    CatalogEntry(
        name="lastfm-2k",
        description=(
            "HetRec 2011 Last.fm 2K: play counts of 1,892 users for their top artists; "
            "items are artists."
        ),
        homepage="https://grouplens.org/datasets/hetrec-2011/",
        license="non-commercial research use (HetRec 2011 terms)",
        domain="music",
        citation="I. Cantador, P. Brusilovsky, T. Kuflik. HetRec 2011 workshop, RecSys 2011",
        files=(
            RemoteFile(
                "hetrec2011-lastfm-2k.zip",
                GL + "hetrec2011/hetrec2011-lastfm-2k.zip",
                "sha256:6738f48195667ff03caaab4d32ca9a3133d8cc026b7c3cdaf6ce1010e913c59c",
                approx_size=2_500_000,
            ),
        ),
        parser=parsers.parse_lastfm_2k,
        expected=Counts(92_834, 1_892, 17_632, 17_632),
        timestamps="none (weights are total play counts)",
    ),
    CatalogEntry(
        name="lastfm-1k",
        description="Last.fm 1K (Celma): every scrobble of 992 users, 2005-2009; items are tracks.",
        homepage="http://ocelma.net/MusicRecommendationDataset/lastfm-1K.html",
        license="non-commercial use (Last.fm API terms)",
        domain="music",
        citation=CELMA,
        files=(
            RemoteFile(
                "lastfm-dataset-1K.tar.gz",
                ZEN_LASTFM + "lastfm-dataset-1K.tar.gz",
                "md5:a79a6808f54f73354789a9fb02cb1e41",
                approx_size=672_700_000,
            ),
        ),
        parser=parsers.parse_lastfm_1k,
        expected=Counts(19_150_868, 992, None, None),
        timestamps="play time (ISO-8601 UTC -> unix seconds)",
    ),
    CatalogEntry(
        name="lastfm-360k",
        description=(
            "Last.fm 360K (Celma): top-artist play counts of 359,347 users; items are artists."
        ),
        homepage="http://ocelma.net/MusicRecommendationDataset/lastfm-360K.html",
        license="non-commercial use (Last.fm API terms)",
        domain="music",
        citation=CELMA,
        files=(
            RemoteFile(
                "lastfm-dataset-360K.tar.gz",
                ZEN_LASTFM + "lastfm-dataset-360K.tar.gz",
                "md5:635e6ed3fc873aa4ba33aba0ebce02b1",
                569_202_935,
            ),
        ),
        parser=parsers.parse_lastfm_360k,
        expected=Counts(17_559_530, 359_347, None, None),
        timestamps="none (weights are total play counts)",
    ),
    CatalogEntry(
        name="yambda-50m",
        description=(
            "Yambda 50M (Yandex Music, 2025): listens of 10,000 users with the organic / "
            "recommended flag, played ratio, likes and dislikes; track -> artist and album."
        ),
        homepage="https://huggingface.co/datasets/yandex/yambda",
        license="Apache-2.0 (research purposes)",
        domain="music",
        citation="A. Ploshkin et al. Yambda-5B. arXiv:2505.22238, 2025",
        files=(
            RemoteFile(
                "listens.parquet",
                HF_YAMBDA + "flat/50m/listens.parquet",
                "sha256:eed9cbd094af1e189507d2f8132a0dc9653b90e65480125c7cdccd601e0592d1",
            ),
            RemoteFile(
                "likes.parquet",
                HF_YAMBDA + "flat/50m/likes.parquet",
                "sha256:694087077dbacfcc1d22a5ca85cc6bd8ab182361933406e60500624c6a422bc4",
            ),
            RemoteFile(
                "dislikes.parquet",
                HF_YAMBDA + "flat/50m/dislikes.parquet",
                "sha256:64f240a6d62b8acdfa6efae660a54d10ebc64f9f2f0aeeef8e6bb0dbe7dc2802",
            ),
            RemoteFile(
                "artist_item_mapping.parquet", HF_YAMBDA + "artist_item_mapping.parquet", None
            ),
            RemoteFile(
                "album_item_mapping.parquet", HF_YAMBDA + "album_item_mapping.parquet", None
            ),
        ),  # fmt: skip
        parser=parsers.parse_yambda,
        expected=Counts(46_467_212, 10_000, 934_057, None),
        timestamps="seconds in 5 s bins from an undisclosed origin (ordered, not dates)",
    ),
    CatalogEntry(
        name="kuairec-big",
        description=(
            "KuaiRec big matrix (Kuaishou short videos): 7,176 users x 10,728 videos, watch "
            "ratio as weight; train here, evaluate on kuairec-small."
        ),
        homepage="https://kuairec.com/",
        license="CC BY-SA 4.0",
        domain="short video",
        citation=KUAI_CITE,
        files=(KUAI_FILE,),
        parser=parsers.parse_kuairec_big,
        expected=Counts(12_530_806, 7_176, 10_728, None),
        timestamps="watch time (unix seconds, some missing)",
        storage="kuairec",
    ),
    CatalogEntry(
        name="kuairec-small",
        description=(
            "KuaiRec small matrix: 1,411 users x 3,327 videos, 99.6% observed, for unbiased "
            "offline evaluation; same archive as kuairec-big."
        ),
        homepage="https://kuairec.com/",
        license="CC BY-SA 4.0",
        domain="short video",
        citation=KUAI_CITE,
        files=(KUAI_FILE,),
        parser=parsers.parse_kuairec_small,
        expected=Counts(4_676_570, 1_411, 3_327, None),
        timestamps="watch time (unix seconds, some missing)",
        storage="kuairec",
    ),
    CatalogEntry(
        name="open-bandit",
        description=(
            "Open Bandit Dataset (ZOZOTOWN fashion e-commerce): clicks logged under a uniform "
            "random and a Bernoulli TS policy over 3 slots, with propensities, for `rank ope`; "
            "its 10,000-row samples ship in the obp 0.4.1 wheel and are read there in place."
        ),
        homepage="https://github.com/st-tech/zr-obp",
        license="CC BY 4.0",
        domain="fashion (bandit logs)",
        citation=(
            "Y. Saito, S. Aihara, M. Matsutani, Y. Narita. Open Bandit Dataset and Pipeline. "
            "NeurIPS 2021 Datasets and Benchmarks"
        ),
        files=(
            RemoteFile(
                "open_bandit_dataset.zip",
                "https://research.zozo.com/data_release/open_bandit_dataset.zip",
                None,
                412_931_917,
            ),
        ),
        timestamps="impression time (ISO-8601 UTC); rows are impressions, not interactions",
    ),
    CatalogEntry(
        name="spotify-mpd",
        description="Spotify Million Playlist Dataset: 1M playlists (RecSys Challenge 2018).",
        homepage="https://www.aicrowd.com/challenges/spotify-million-playlist-dataset-challenge",
        license="Spotify terms: non-commercial research, no redistribution",
        domain="music",
        citation="C.-W. Chen et al. Recsys Challenge 2018. RecSys 2018",
        available=False,
        unavailable_reason=(
            "access by request only (AIcrowd registration and Spotify's terms); no public URL "
            "to download from"
        ),
    ),
    CatalogEntry(
        name="spotify-streaming-sessions",
        description="Spotify Music Streaming Sessions Dataset (WSDM Cup 2019 skip prediction).",
        homepage="https://www.aicrowd.com/challenges/spotify-sequential-skip-prediction-challenge",
        license="Spotify terms: non-commercial research, no redistribution",
        domain="music",
        citation="B. Brost, R. Mehrotra, T. Jehan. The Music Streaming Sessions Dataset. WWW 2019",
        available=False,
        unavailable_reason=(
            "access by request only (AIcrowd registration and Spotify's terms); no public URL "
            "to download from"
        ),
    ),
)

CATALOG: dict[str, CatalogEntry] = {entry.name: entry for entry in ENTRIES}


def check_dataset_name(name: str) -> str:
    """`name` when it is a plain name (it becomes a folder of the data dir); a DataError
    naming the rule otherwise."""
    from recsys_cli.config.validate import PLAIN_NAME_RULE, name_problem

    problem = name_problem(name)
    if problem:
        raise DataError(f"dataset name {name!r} {problem}; {PLAIN_NAME_RULE}")
    return name


def get_entry(name: str) -> CatalogEntry:
    """The catalog entry called `name`; unknown names fail with the nearest valid one."""
    entry = CATALOG.get(name)
    if entry is not None:
        return entry
    from recsys_cli.config.validate import nearest

    check_dataset_name(name)
    raise DataError(f"unknown dataset {name!r}{nearest(name, CATALOG)}")


def sharing_storage(entry: CatalogEntry) -> list[CatalogEntry]:
    """Entries whose files live in the same folder as `entry` (variants of one archive)."""
    return [e for e in CATALOG.values() if e.folder == entry.folder]
