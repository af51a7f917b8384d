"""URLs that worked before issue 12 keep their exact bytes and ETags (computed with the code
of that time, through gunicorn), whatever is added around them; curl and */* keep PNG."""

import hashlib

import pytest
import requests
from harness import ROOT, gunicorn

PLACEHOLDER = ROOT / "placeholder"
PINNED = [  # (path, sha256 of the body, ETag)
    (
        "/image/50x50/",
        "dba95a31bbed6e87dd3c660383b50c183a40c9f31c75ad1dd02776961198463c",
        '"4f09bb4a48cd230af6bf5b44c70658b4"',
    ),
    (
        "/image/200x100/",
        "0ad79ea110dead23e1f2e4c62befccb067e50c176db12fc631b548b8d3f8b440",
        '"834aea820799c6e7544e09b8067a56c9"',
    ),
    (
        "/image/200x100",
        "0ad79ea110dead23e1f2e4c62befccb067e50c176db12fc631b548b8d3f8b440",
        '"834aea820799c6e7544e09b8067a56c9"',
    ),
    (
        "/image/1x1/",
        "c2d6ff03eb50c4273e36d1042392a6f7b7617d433f9d457f1667ffce2ee4cb5e",
        '"5a0fbda115e32cbfe54bc1ca1ec2d17e"',
    ),
    (
        "/image/2000x2000/",
        "ae40c48575f921ea1633f311b9b4d9757f1f7b0e7993ce08d01e4007bde8f043",
        '"5871ea07b4fb6172655679cfebce61d6"',
    ),
    (
        "/image/300x200.png",
        "5457c9eb00edd0f2b26313f61f8061696f0d7150021ad521dbd9c99ec0fb0745",
        '"3a28f92c1d1dc8220e9ccef9faa85cfe"',
    ),
    (
        "/image/300x200.jpg",
        "b555ac602ea0341374045ca5795c49f8a085452469aaaded0486138a247a19e6",
        '"345c692846de3cf6ced810cc5c432dd1"',
    ),
    (
        "/image/300x200.jpeg",
        "b555ac602ea0341374045ca5795c49f8a085452469aaaded0486138a247a19e6",
        '"345c692846de3cf6ced810cc5c432dd1"',
    ),
    (
        "/image/300x200.gif",
        "dfc37d7ea3ac710493a9ee4ae068edfdfbd0397d44fc231ccdef0f5d4b4f3de7",
        '"87270a348546ca317e91750564911e50"',
    ),
    (
        "/image/300x200.webp",
        "2abefe6acbf723960fabf7abd750a9a32858374b4c73812393bcf1485c121e87",
        '"98fcafedb9c3e304dfe5578490e83121"',
    ),
    (
        "/image/300x200.svg",
        "129c07081b50fa03426fe50b9f003e3c51938eda26cb4b9b2c1f7fec78f98f1d",
        '"d26e59205e32cffad05c8c1b4e4ea93a"',
    ),
    (
        "/image/300x200/?format=webp",
        "2abefe6acbf723960fabf7abd750a9a32858374b4c73812393bcf1485c121e87",
        '"98fcafedb9c3e304dfe5578490e83121"',
    ),
    (
        "/image/300x200/?bg=1e6f9f&fg=ffd54a",
        "49640346f678c04cfedcff0db3ee48226e218114886543f54238a27b3e6885e5",
        '"0ec022fdb51e08cee91624e01705c8cf"',
    ),
    (
        "/image/300x200/?bg=%23f80&fg=00f",
        "0f477f56d24982ca2def6ea94ccfde1215fce0169c4803f1902297a8b6892e9b",
        '"be9c319d6ab91f3f0707156d88debe62"',
    ),
    (
        "/image/300x200.png?bg=ff000040&fg=%23222",
        "61d8eb9042700a79ade5dcfabbc2acc1e1934be2f865ff86fac8ecb47ff911df",
        '"8dec3fa54a604f8ed4f375eb5c19ebdd"',
    ),
    (
        "/image/300x200.gif?bg=ffffff00&fg=000",
        "c9f64e3286462b4c21efe796f9fbacbf4dca47f72c9eb78df0c84a5adbf53325",
        '"40240102cf8ccb73cdc93a49fb52d31f"',
    ),
    (
        "/image/300x200.webp?bg=0000&fg=0f0",
        "d2e856964fd6c2ad2221444d6e4481e095658da4085a7fd1b776e3f97c090664",
        '"3f85b9e42586fb09a04e3368fbc385c9"',
    ),
    (
        "/image/300x200.svg?bg=f80&fg=00000080&text=a%3Cb",
        "c990d71ff71268f94d2f3357ae11df6e842723ffe8ef256dace65593bae28490",
        '"a4754d8f1b3254f5ac85d7d4eec48200"',
    ),
    (
        "/image/300x200/?text=Gr%C3%BC%C3%9Fe%0Aaus%20Django",
        "f009191c0105d804650794fabdd1b667390b06596ebafbe72c91a6296186a0eb",
        '"360e02e2e3ea5225098d69a8cf78d986"',
    ),
    (
        "/image/300x200/?text=",
        "2422f5e5e2a1dda9d05e2751717d976c8f0262535f08cec0d6fa3c573335db0c",
        '"299b954675c56a664ab162a270b84148"',
    ),
    (
        "/image/300x200@2x.png",
        "f7e98608c7b2fdc2fc3c6eed351873b555cb43cba2cb464ad997114258909817",
        '"8a4784a38a68f3c389801a3ecfce7048"',
    ),
    (
        "/image/30x10@3x/",
        "a6c9793ffd972392c01db9a8715f8f95d7d21d91de245a95315cdfac149195a2",
        '"db150791dfbbe4e17ad615e171ecd986"',
    ),
    (
        "/image/200x100/?v=2",
        "0ad79ea110dead23e1f2e4c62befccb067e50c176db12fc631b548b8d3f8b440",
        '"834aea820799c6e7544e09b8067a56c9"',
    ),
]
CLIENTS = {  # the Accept headers of clients that must keep the PNG of extension-less URLs
    "none": None,
    "curl": "*/*",
    "generic image": "image/*",
    "png only": "image/png",
}


@pytest.fixture(scope="module")
def server():
    service = gunicorn("placeholder", PLACEHOLDER).start()
    yield service
    service.stop()


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("path,sha256,etag", PINNED)
def test_existing_urls_keep_their_bytes_and_etag(server, path, sha256, etag, client):
    accept = CLIENTS[client]
    headers = {"Accept": accept} if accept else {}
    session = requests.Session()
    if accept is None:
        del session.headers["Accept"]
    response = session.get(server.url + path, headers=headers, timeout=60)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == sha256
    assert response.headers["ETag"] == etag
