"""Pinned URLs keep their exact picture and ETag through gunicorn, whatever is added around
them; curl and */* keep PNG. GIF and SVG are pinned by their bytes; PNG, JPEG and lossless WebP
by their decoded pixels, so that an encoder's effort may change (zlib's level, JPEG's Huffman
tables, libwebp's method), never the picture."""

import hashlib
import io

import pytest
import requests
from harness import ROOT, gunicorn
from PIL import Image

PLACEHOLDER = ROOT / "placeholder"
PINNED = [  # (path, sha256 of the body, or of the picture: see digest(), ETag)
    (
        "/image/50x50/",
        "b0a7462cb0822ca5804f071a00bfef6d6eb8a43cd4ce487d2ecb2816dc9295e3",
        '"d8c5a20518a4123851a990f913396f69"',
    ),
    (
        "/image/200x100/",
        "23e8d4925505f3543ac9552b865b93738c3cadf0ebd576db9f105b50447aaa3a",
        '"eb08c3437ee6efbf89e5f433597b50d6"',
    ),
    (
        "/image/200x100",
        "23e8d4925505f3543ac9552b865b93738c3cadf0ebd576db9f105b50447aaa3a",
        '"eb08c3437ee6efbf89e5f433597b50d6"',
    ),
    (
        "/image/1x1/",
        "2a40101233ee2ff72de22fdbf2050937d3d54cd588d4d1aaae405b69736136c7",
        '"0c34632a3e624dcbd165af7b2ae7e5ae"',
    ),
    (
        "/image/2000x2000/",
        "4067ec457fb3b26ee2c9e5e00da9633bbfb9c645b17a188f04c67756b833a2d1",
        '"209c8975b9bd7b2efcccae079da55205"',
    ),
    (
        "/image/300x200.png",
        "8e46462ef15404c8e9ce28134194743b5798f1440871c0ea12a19711df67a320",
        '"293056d5888a6460ac9b9d4086625482"',
    ),
    (
        "/image/300x200.jpg",
        "83925ea67a5135694879cf7674c2fbddfc3424bf44dacd929b13bd45764cd029",
        '"f60a1f150c5ccc4a78561e538ea0c341"',
    ),
    (
        "/image/300x200.jpeg",
        "83925ea67a5135694879cf7674c2fbddfc3424bf44dacd929b13bd45764cd029",
        '"f60a1f150c5ccc4a78561e538ea0c341"',
    ),
    (
        "/image/300x200.gif",
        "dfc37d7ea3ac710493a9ee4ae068edfdfbd0397d44fc231ccdef0f5d4b4f3de7",
        '"12670a0684754948064d1e07d5b771ad"',
    ),
    (
        "/image/300x200.webp",
        "8e46462ef15404c8e9ce28134194743b5798f1440871c0ea12a19711df67a320",
        '"bc20378203ee47265a5938e1b10c2fd5"',
    ),
    (
        "/image/300x200.svg",
        "129c07081b50fa03426fe50b9f003e3c51938eda26cb4b9b2c1f7fec78f98f1d",
        '"d63469ee7f212263da4c6d472898066f"',
    ),
    (
        "/image/300x200/?format=webp",
        "8e46462ef15404c8e9ce28134194743b5798f1440871c0ea12a19711df67a320",
        '"bc20378203ee47265a5938e1b10c2fd5"',
    ),
    (
        "/image/300x200/?bg=1e6f9f&fg=ffd54a",
        "9f1e60a8368e9c64feb5c800520289055063132c1890a0b2830617c572f66f82",
        '"1758adfe0ebeae455089ec97c274be41"',
    ),
    (
        "/image/300x200/?bg=%23f80&fg=00f",
        "81eac1aa3164425894045cd9dbf275c7552243339b40089eda779ee20109060c",
        '"6dd972b815ae02758aae608f46736e16"',
    ),
    (
        "/image/300x200.png?bg=ff000040&fg=%23222",
        "24da6819fc826499aaf027e4644ae36ade338f8fc77f5500c137b085aea1e791",
        '"ebd1b070a3543bc401b6e03aa0ad5b53"',
    ),
    (
        "/image/300x200.gif?bg=ffffff00&fg=000",
        "c9f64e3286462b4c21efe796f9fbacbf4dca47f72c9eb78df0c84a5adbf53325",
        '"e0fd167cd3b87907b1778984327c1046"',
    ),
    (
        "/image/300x200.webp?bg=0000&fg=0f0",
        "9d98b4d361e219d96866cf32ba54a1e3a0fadce705d251bc58f3ede60d0169ec",
        '"0b6daaa1b437de0ba498bc133ed47f29"',
    ),
    (
        "/image/300x200.svg?bg=f80&fg=00000080&text=a%3Cb",
        "c990d71ff71268f94d2f3357ae11df6e842723ffe8ef256dace65593bae28490",
        '"bab51d22e32c8ee6ed6a13dedb49e720"',
    ),
    (
        "/image/300x200/?text=Gr%C3%BC%C3%9Fe%0Aaus%20Django",
        "079c2ea46e822fa96c0cbd6e7c1403a33478a1632d99ba329a95a7a48068a656",
        '"42cffd0ed12202172c3de6078d9967c2"',
    ),
    (
        "/image/300x200/?text=",
        "fd72e13d7ea93920a113289bead4a1bad870cf121fb4f7aba5330a61f30bca39",
        '"62fa2a500ef26ead253a86fb1cef67c6"',
    ),
    (
        "/image/300x200@2x.png",
        "f86f0b64917b273a1db6aacef93e261b442e2f18bf98b5fc98c2d5502a9ff216",
        '"14d1eae79037fa5113006b6989c8f01c"',
    ),
    (
        "/image/30x10@3x/",
        "e5c7d6fcc6f9207a3ba083ed5d6c110a6e0bd47f5dcca432593c9e82192c2c07",
        '"0c5957a4f26e212944a1d51fcf8be83e"',
    ),
    (
        "/image/200x100/?v=2",
        "23e8d4925505f3543ac9552b865b93738c3cadf0ebd576db9f105b50447aaa3a",
        '"eb08c3437ee6efbf89e5f433597b50d6"',
    ),
]
CLIENTS = {  # the Accept headers of clients that must keep the PNG of extension-less URLs
    "none": None,
    "curl": "*/*",
    "generic image": "image/*",
    "png only": "image/png",
}


BY_PIXELS = {"image/png", "image/jpeg", "image/webp"}


def digest(response):
    """sha256 of the body; of a PNG, JPEG or WebP, of its size and RGBA pixels as Pillow decodes
    them."""
    if response.headers["Content-Type"] not in BY_PIXELS:
        return hashlib.sha256(response.content).hexdigest()
    image = Image.open(io.BytesIO(response.content)).convert("RGBA")
    return hashlib.sha256(f"{image.size}".encode() + image.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def server():
    service = gunicorn("placeholder", PLACEHOLDER).start()
    yield service
    service.stop()


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("path,sha256,etag", PINNED)
def test_existing_urls_keep_their_picture_and_etag(server, path, sha256, etag, client):
    accept = CLIENTS[client]
    headers = {"Accept": accept} if accept else {}
    session = requests.Session()
    if accept is None:
        del session.headers["Accept"]
    response = session.get(server.url + path, headers=headers, timeout=60)
    assert response.status_code == 200
    assert digest(response) == sha256
    assert response.headers["ETag"] == etag
