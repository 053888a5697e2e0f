"""Synthetic payment records with ground truth, for payment screening (``tipline.finance``).

>>> from tipline.synth.payments import generate_payments
>>> pw = generate_payments(seed=1)
>>> pw.write_csv(path); pw.write_labels(labels_path)

Every sender has a ground-truth label (1: pays for live-streamed abuse, 0: does not) and a *shape*:

==================  ====  ================================================================================
shape               label what it looks like
==================  ====  ================================================================================
ordinary            0     domestic card and bank payments, any amount, any hour
webshop_customer    0     ordinary customers who also pay web shops abroad (PH/TH) by card, small sums;
                          each shop is paid by hundreds of unrelated customers
family              0     remittances to 1-3 relatives abroad who share the sender's surname, monthly on
                          pay day, round sums, remittance channel, references such as "school fees"
freelancer_firm     0     a firm paying 3-15 freelancers abroad by invoice, office hours, larger sums
many_facilitators   1     pays several unrelated facilitators in high-risk countries, small sums, at
                          night (sender's local time), often cover words in references
one_facilitator     1     one facilitator for years; amounts rise and intervals shrink
crypto_p2p          1     pays wallets and P2P accounts, small frequent sums
==================  ====  ================================================================================

Facilitators are drawn from one shared pool, so payers share facilitators (AUSTRAC: a facilitator paid by
several unrelated senders). Payers behave with noise (not every payer shows every indicator), so recall
is not a foregone conclusion. Names are drawn from short generic lists; identifiers (phones, e-mails,
wallets, IBANs) are random but valid in format, as in :mod:`tipline.synth.identifiers`. Nothing names a
real person, and references never describe abuse.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from . import identifiers as ids

#: Sender countries: (UTC offset in hours, currency).
SENDER_COUNTRIES = {
    "AU": (10, "AUD"),
    "GB": (0, "GBP"),
    "US": (-5, "USD"),
    "CA": (-5, "CAD"),
    "IT": (1, "EUR"),
    "DE": (1, "EUR"),
    "NL": (1, "EUR"),
}
#: Roughly what one unit of each currency is worth in EUR (same table as the default rules file).
EUR_PER = {"EUR": 1.0, "AUD": 0.6, "GBP": 1.17, "USD": 0.92, "CAD": 0.68}

GIVEN = (
    "Alex", "Sam", "Chris", "Jordan", "Taylor", "Morgan", "Jamie", "Robin", "Casey", "Drew", "Lee", "Kim",
    "Maria", "Ana", "Jose", "Juan", "Rosa", "Luz", "Mark", "Paul", "Joy", "Grace", "Carlo", "Marco",
    "Elena", "Luca", "Anna", "Peter", "John", "Mary", "Noel", "Rey", "Liza", "Nina", "Tom", "Ben",
)  # fmt: skip
SURNAMES = (
    "Smith", "Brown", "Wilson", "Taylor", "Walker", "Clarke", "Hughes", "Rossi", "Bianchi", "Muller",
    "Schmidt", "Jansen", "Bakker", "Martin", "Miller", "Davis", "Moore", "White", "Harris", "Lewis",
    "Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Flores", "Ramos",
    "Aquino", "Navarro", "Castillo", "Villanueva", "Dela Cruz", "Gonzales", "Lopez", "Perez", "Rivera",
    "Srisuk", "Chaiyo", "Wongsa", "Morales", "Herrera", "Jimenez", "Vargas", "Castro", "Ortiz", "Silva",
)  # fmt: skip
FIRM_WORDS = ("Studio", "Digital", "Design", "Labs", "Media", "Software", "Works")
SHOP_WORDS = ("Crafts", "Gadgets", "Outlet", "Style", "Market", "Home", "Store", "Goods")
#: Where the receiving end sits; PH first, as in every source.
HIGH_RISK = ("PH", "PH", "PH", "PH", "TH", "CO", "DO", "MX")
COVER = ("school fees", "uniform", "medical bills", "accommodation", "gift", "for food", "tuition", "rent help")
FAMILY_REFS = ("school fees", "allowance", "for mama", "medical bills", "monthly support", "birthday gift")
ORDINARY_REFS = ("groceries", "rent", "dinner", "utilities", "phone bill", "gym", "insurance", "", "")


@dataclass
class PaymentWorld:
    """Rows (one dict per payment, the import columns) and the ground truth per sender.

    The columns are the importer's (``tipline.finance.importer.COLUMNS``, the one definition): each row
    dict is written with those keys in that order (:meth:`_Gen.pay`), and files are written in the rows'
    own key order (the synthetic layer does not import the capability; a test checks they agree)."""

    rows: list[dict[str, str]] = field(default_factory=list)
    labels: dict[str, tuple[int, str]] = field(default_factory=dict)  # sender_id -> (label, shape)
    facilitators: dict[str, str] = field(default_factory=dict)  # beneficiary_id -> name

    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def write_csv(self, path: Path) -> Path:
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns())
            w.writeheader()
            w.writerows(self.rows)
        return path

    def write_parquet(self, path: Path) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({c: [r[c] for r in self.rows] for c in self.columns()}), path)
        return path

    def write_labels(self, path: Path) -> Path:
        with path.open("w", encoding="utf-8") as fh:
            fh.write("sender_id\tlabel\tshape\n")
            for sid, (label, shape) in sorted(self.labels.items()):
                fh.write(f"{sid}\t{label}\t{shape}\n")
        return path


@dataclass
class _Party:
    id: str
    name: str
    country: str
    surname: str = ""


class _Gen:
    def __init__(self, seed: int, start: datetime, days: int) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.days = days
        self.world = PaymentWorld()
        self.n_txn = 0
        self.n_party = 0

    # -- parties ---------------------------------------------------------------------------------------
    def _pid(self, prefix: str) -> str:
        self.n_party += 1
        return f"{prefix}{self.n_party:07d}"

    def person(self, country: str, surname: str | None = None) -> _Party:
        sn = surname or self.rng.choice(SURNAMES)
        return _Party(self._pid("S"), f"{self.rng.choice(GIVEN)} {sn}", country, sn)

    def sender(self, surname: str | None = None) -> _Party:
        return self.person(self.rng.choice(list(SENDER_COUNTRIES)), surname)

    def receiver(self, country: str, *, channel: str, surname: str | None = None) -> _Party:
        rng = self.rng
        sn = surname or rng.choice(SURNAMES)
        name = f"{rng.choice(GIVEN)} {sn}"
        if channel == "crypto":
            acct = rng.choice((ids.btc_bech32, ids.eth_address, ids.trx_address))(rng)
            return _Party(acct, "", "" if rng.random() < 0.5 else country, sn)
        if channel == "paypal":
            acct = f"{ids.email_local(rng)}@{rng.choice(('example.ph', 'example.com', 'mail.example.org'))}"
        elif channel in ("remittance", "p2p") and country == "PH":
            acct = f"gcash:{ids.random_mobile(rng, 'PH')}"
        elif country in ("CO", "DO", "MX", "TH", "IN") and channel == "bank_transfer":
            acct = f"{country}ACCT{rng.randrange(10**9, 10**10)}"
        else:
            acct = f"{country}-{ids.rand_alnum(rng, 10).upper()}"
        return _Party(acct, name, country, sn)

    # -- payments --------------------------------------------------------------------------------------
    def pay(self, s: _Party, b: _Party, when_local: datetime, amount: float, channel: str, reference: str) -> None:
        self.n_txn += 1
        offset, currency = SENDER_COUNTRIES[s.country]
        tz = timezone(timedelta(hours=offset))
        ts = when_local.replace(tzinfo=tz).isoformat(timespec="seconds")
        self.world.rows.append(
            {
                "txn_id": f"T{self.n_txn:09d}",
                "ts": ts,
                "sender_id": s.id,
                "sender_name": s.name,
                "sender_country": s.country,
                "amount": f"{amount:.2f}",
                "currency": currency,
                "beneficiary_id": b.id,
                "beneficiary_name": b.name,
                "beneficiary_country": b.country,
                "channel": channel,
                "reference": reference,
            }
        )

    def local_amount(self, s: _Party, eur: float, *, rounded: bool = False) -> float:
        amt = eur / EUR_PER[SENDER_COUNTRIES[s.country][1]]
        if rounded:
            return float(max(10, round(amt / 10) * 10))
        return round(amt, 2)

    def day(self, d: float) -> datetime:
        return self.start + timedelta(days=d)

    def at(self, d: datetime, hour: int) -> datetime:
        return d.replace(hour=hour % 24, minute=self.rng.randrange(60), second=self.rng.randrange(60))

    def night_hour(self) -> int:
        return self.rng.choice((22, 23, 0, 1, 2, 3, 4, 5))

    def any_hour(self) -> int:
        return self.rng.choice(range(7, 23))


def _ordinary(g: _Gen, s: _Party, locals_: list[_Party], shops: list[_Party] | None) -> None:
    rng = g.rng
    n = rng.randrange(8, 60)
    for _ in range(n):
        d = g.day(rng.uniform(0, g.days))
        if shops and rng.random() < 0.3:
            b = rng.choice(shops)
            g.pay(
                s,
                b,
                g.at(d, g.any_hour()),
                g.local_amount(s, rng.uniform(12, 110)),
                "card",
                f"order {rng.randrange(10**6)}",
            )
            continue
        b = rng.choice(locals_)
        ch = rng.choice(("card", "card", "bank_transfer", "bank_transfer", "paypal", "p2p"))
        rounded = rng.random() < 0.25
        g.pay(
            s,
            b,
            g.at(d, g.any_hour()),
            g.local_amount(s, rng.uniform(5, 600), rounded=rounded),
            ch,
            rng.choice(ORDINARY_REFS),
        )


def _family(g: _Gen, s: _Party) -> None:
    rng = g.rng
    country = rng.choice(HIGH_RISK)
    relatives = [g.receiver(country, channel="remittance", surname=s.surname) for _ in range(rng.randrange(1, 4))]
    payday = rng.choice((1, 15, 25, 28))
    base = rng.uniform(80, 350)
    d = g.start.replace(day=payday)
    while d < g.day(g.days):
        for rel in relatives if rng.random() < 0.3 else relatives[:1]:
            when = d + timedelta(days=rng.choice((0, 0, 0, 1)))
            g.pay(
                s,
                rel,
                g.at(when, rng.choice(range(8, 21))),
                g.local_amount(s, base * rng.uniform(0.9, 1.2), rounded=True),
                rng.choice(("remittance", "remittance", "bank_transfer")),
                rng.choice(FAMILY_REFS),
            )
        month = d.month % 12 + 1
        d = d.replace(year=d.year + (d.month == 12), month=month)


def _firm(g: _Gen, s: _Party) -> None:
    rng = g.rng
    s.name = f"{rng.choice(SURNAMES)} {rng.choice(FIRM_WORDS)} Ltd"
    s.surname = ""
    freelancers = [
        g.receiver(rng.choice(("PH", "PH", "IN", "CO", "MX")), channel="bank_transfer")
        for _ in range(rng.randrange(3, 16))
    ]
    step = rng.choice((14, 30))
    for f in freelancers:
        d = rng.uniform(0, step)
        while d < g.days:
            when = g.day(d)
            while when.weekday() >= 5:
                when += timedelta(days=1)
            inv = f"Invoice INV-{when.year}-{rng.randrange(1, 9999):04d}"
            g.pay(
                s,
                f,
                g.at(when, rng.choice(range(9, 17))),
                g.local_amount(s, rng.uniform(150, 2500)),
                rng.choice(("bank_transfer", "bank_transfer", "paypal")),
                inv,
            )
            d += step * rng.uniform(0.9, 1.1)


def _payer_many(g: _Gen, s: _Party, pool: list[_Party]) -> None:
    rng = g.rng
    facs = rng.sample(pool, rng.randrange(3, 9))
    d = rng.uniform(0, 60)
    night = rng.random() < 0.75
    cover = rng.random() < 0.5
    while d < g.days:
        f = rng.choice(facs)
        hour = g.night_hour() if night and rng.random() < 0.8 else g.any_hour()
        ref = rng.choice(COVER) if cover and rng.random() < 0.6 else ""
        ch = "paypal" if "@" in f.id else "remittance"
        g.pay(s, f, g.at(g.day(d), hour), g.local_amount(s, rng.uniform(12, 90), rounded=rng.random() < 0.4), ch, ref)
        d += rng.uniform(2, 18)


def _payer_one(g: _Gen, s: _Party, pool: list[_Party]) -> None:
    rng = g.rng
    f = rng.choice(pool)
    d = rng.uniform(0, 20)
    gap, eur = rng.uniform(25, 40), rng.uniform(15, 30)
    night = rng.random() < 0.6
    while d < g.days:
        hour = g.night_hour() if night and rng.random() < 0.8 else g.any_hour()
        ref = rng.choice(COVER) if rng.random() < 0.4 else ""
        ch = "paypal" if "@" in f.id else "remittance"
        g.pay(s, f, g.at(g.day(d), hour), g.local_amount(s, eur * rng.uniform(0.9, 1.1)), ch, ref)
        d += gap * rng.uniform(0.8, 1.2)
        gap = max(3.0, gap * 0.93)
        eur = min(180.0, eur * 1.04)


def _payer_crypto(g: _Gen, s: _Party, wallets: list[_Party]) -> None:
    rng = g.rng
    targets = rng.sample(wallets, rng.randrange(1, 4))
    d = rng.uniform(0, 60)
    night = rng.random() < 0.6
    while d < g.days:
        w = rng.choice(targets)
        ch = "crypto" if w.name == "" else "p2p"
        hour = g.night_hour() if night and rng.random() < 0.8 else g.any_hour()
        g.pay(s, w, g.at(g.day(d), hour), g.local_amount(s, rng.uniform(15, 120)), ch, "")
        d += rng.uniform(2, 15)


def generate_payments(
    seed: int = 1,
    *,
    n_ordinary: int = 300,
    n_webshop_customers: int = 200,
    n_family: int = 80,
    n_firms: int = 15,
    n_payers: int = 60,
    n_facilitators: int = 25,
    days: int = 730,
    start: datetime | None = None,
) -> PaymentWorld:
    """A seeded world of payments: one sender per ground-truth entry, rows in no particular order."""
    g = _Gen(seed, start or datetime(2024, 1, 1), days)
    rng = g.rng
    locals_ = {c: [g.person(c) for _ in range(40)] for c in SENDER_COUNTRIES}
    shops = [
        _Party(f"SHOP-{c}-{i:03d}", f"{rng.choice(SURNAMES)} {rng.choice(SHOP_WORDS)}", c)
        for i, c in enumerate(("PH", "PH", "TH", "PH", "TH", "CO"))
    ]
    pool: list[_Party] = []
    for _ in range(n_facilitators):
        ch = rng.choice(("remittance", "remittance", "paypal"))
        f = g.receiver(rng.choice(HIGH_RISK), channel=ch)
        pool.append(f)
        g.world.facilitators[f.id] = f.name
    wallets = [
        g.receiver("PH", channel=rng.choice(("crypto", "crypto", "p2p"))) for _ in range(max(3, n_facilitators // 3))
    ]

    def add(s: _Party, label: int, shape: str) -> None:
        g.world.labels[s.id] = (label, shape)

    for _ in range(n_ordinary):
        s = g.sender()
        _ordinary(g, s, locals_[s.country], None)
        add(s, 0, "ordinary")
    for _ in range(n_webshop_customers):
        s = g.sender()
        _ordinary(g, s, locals_[s.country], shops)
        add(s, 0, "webshop_customer")
    for _ in range(n_family):
        s = g.sender()
        _family(g, s)
        add(s, 0, "family")
    for _ in range(n_firms):
        s = g.sender()
        _firm(g, s)
        add(s, 0, "freelancer_firm")
    shapes = ("many_facilitators", "one_facilitator", "crypto_p2p")
    for i in range(n_payers):
        s = g.sender()
        shape = shapes[i % 3]
        if shape == "many_facilitators":
            _payer_many(g, s, pool)
        elif shape == "one_facilitator":
            _payer_one(g, s, pool)
        else:
            _payer_crypto(g, s, wallets)
        # a payer is also an ordinary customer the rest of the time
        _ordinary(g, s, locals_[s.country], shops if rng.random() < 0.3 else None)
        add(s, 1, shape)
    for r in g.world.rows:
        assert ids.clean(r["reference"]) and ids.clean(r["beneficiary_name"]) and ids.clean(r["sender_name"])
    return g.world


def now_utc() -> datetime:
    return datetime.now(UTC)
