"""Placeholder-level report texts in English, Italian and Tagalog.

Deliberately non-graphic: the most any text says is that an account offers paid private live shows with a
minor. Slots: ``{contacts}`` (identifiers with their cues), ``{city}``, ``{age}`` (an age phrase),
``{site}``, ``{pay}``, ``{ad}`` (a network's ad, quoted), ``{date}``, ``{time}``, ``{price}``,
``{order}``, ``{n}``, ``{adult}``.
"""

from __future__ import annotations

LANGS = ("en", "it", "tl")

# Reports about a network, from the public.
PUBLIC_NETWORK = {
    "en": (
        "Account offering paid private live shows with a minor. {contacts}.",
        "I saw an ad on {site} for private video calls from {city}. The girl looks {age}. {contacts}",
        "Someone in {city} is streaming children on webcam to foreigners for money. {contacts}",
        "Found a group selling access to live shows with kids, payment by {pay}. {contacts}",
        "My neighbour in {city} runs a webcam room and children go in and out all day. {contacts}",
        'This ad keeps coming back: "{ad}" Reported before on {date}.',
        "A seller asks viewers to pay {price} before a private call with a child {age}. {contacts}",
        "Please check this, a child {age} was shown on a paid stream around {time}. {contacts}",
    ),
    "it": (
        "Account che offre spettacoli privati in diretta a pagamento con una minore. {contacts}.",
        "Ho visto un annuncio su {site} per videochiamate private da {city}, la ragazza ha {age}. {contacts}",
        "Qualcuno a {city} trasmette bambini in webcam a stranieri in cambio di soldi. {contacts}",
        "Gruppo che vende accesso a dirette con minori, pagamento tramite {pay}. {contacts}",
        'Questo annuncio ricompare di continuo: "{ad}" Già segnalato il {date}.',
        "Un venditore chiede {price} prima di una chiamata privata con una bambina di {age}. {contacts}",
        "Vi prego di controllare, una minore di {age} in una diretta a pagamento verso le {time}. {contacts}",
    ),
    "tl": (
        "May account na nag-aalok ng bayad na private live show kasama ang isang menor de edad. {contacts}.",
        "Nakita ko ang ad sa {site} para sa private video call mula {city}, ang bata ay {age}. {contacts}",
        "May tao sa {city} na nagpapa-webcam ng mga bata para sa mga foreigner kapalit ng pera. {contacts}",
        "May grupo na nagbebenta ng access sa live show na may mga bata, bayad sa {pay}. {contacts}",
        "Ang kapitbahay namin sa {city} ay may kwarto na may webcam, labas-pasok ang mga bata. {contacts}",
        'Paulit-ulit ang ad na ito: "{ad}" Nai-report na noong {date}.',
        "Humihingi ng {price} bago ang private call kasama ang batang {age}. {contacts}",
    ),
}

# Reports from a platform's moderators (JSON API or CyberTipline XML).
PLATFORM_NETWORK = {
    "en": (
        "Account flagged by moderation for offering paid private live shows with a minor; "
        "directs viewers to {contacts}.",
        'Classifieds ad removed after review: "{ad}"',
        "User reported by another user for requesting payment for live video with a child {age}. Mentions {contacts}.",
        "Repeated private calls from foreign accounts to one broadcaster in {city}; "
        "payment requested off-platform via {contacts}.",
        "Profile text invites viewers to pay {price} for private live sessions with a minor. {contacts}",
    ),
    "it": (
        "Account segnalato dalla moderazione: offre dirette private a pagamento con una minore; rimanda a {contacts}.",
        'Annuncio rimosso dopo verifica: "{ad}"',
        "Utente segnalato per richiesta di pagamento per video in diretta con una minore di {age}. "
        "Contatti: {contacts}.",
    ),
    "tl": (
        "Na-flag ng moderator ang account dahil nag-aalok ng bayad na private live show kasama ang "
        "menor de edad; {contacts}.",
        'Inalis ang ad matapos suriin: "{ad}"',
    ),
}

# Remittance / payment platform reports (money side).
REMITTANCE_NETWORK = {
    "en": (
        "Many small transfers from foreign senders to one receiver in {city}, a pattern seen with paid "
        "live streams. {contacts}.",
        "Receiver collected {n} transfers this month from different countries, amounts near {price}. {contacts}.",
    ),
}

# Panic-button notes.
LIVE_NOTES = {
    "en": (
        "Viewer pressed the panic button: a child appears to be in the stream.",
        "Panic button: broadcaster is taking paid requests, a minor is on camera.",
        "Reported from inside the stream, a child {age} is on camera.",
    ),
    "it": (
        "Un utente ha premuto il pulsante: sembra esserci una minore nella diretta.",
        "Segnalazione dalla diretta: una bambina di {age} davanti alla telecamera.",
    ),
    "tl": (
        "Pinindot ng viewer ang panic button: may bata sa live stream.",
        "Report mula sa live stream: may batang {age} sa camera.",
    ),
}
LIVE_CONTACT = {
    "en": " The broadcaster asked viewers to pay via {contacts}.",
    "it": " Chi trasmette chiede di pagare tramite {contacts}.",
    "tl": " Humihingi ng bayad ang broadcaster sa {contacts}.",
}

# Reports with no network: ordinary numbers, adults, spam, misdirected reports.
NOISE = {
    "en": (
        (
            "other",
            "I ordered a phone case on {date}, order #{order}, and it never arrived. Not sure where to report this.",
        ),
        (
            "other",
            "Adult webcam site advertising on my feed; the performers appear to be adults. Reporting just in case.",
        ),
        ("other", "Someone keeps sending me spam about cheap loans, the last one on {date} at {time}."),
        (
            "sextortion",
            "Received threatening messages demanding {price} or they will share private photos of me. I am {adult}.",
        ),
        (
            "other",
            "My cousin ({adult}) got a strange friend request from an account claiming to be a model "
            "agency, {n} messages since {date}.",
        ),
        (
            "misleading_domain_name",
            "A website uses a misleading name that looks like a cartoon site for kids, seen on {date} at {time}.",
        ),
        ("other", "Not sure if this is illegal: an ad for a dating app, adults only, posted {n} times today."),
    ),
    "it": (
        ("other", "Ho ordinato un prodotto il {date}, ordine n. {order}, mai arrivato."),
        (
            "other",
            "Sito per adulti pubblicizzato sul mio profilo, i performer sembrano maggiorenni. Segnalo per sicurezza.",
        ),
        ("sextortion", "Ricevo messaggi che chiedono {price} altrimenti pubblicano mie foto private. Ho {adult} anni."),
        ("other", "Messaggi spam su prestiti, l'ultimo il {date} alle {time}."),
        ("other", "Annuncio di un sito di incontri per adulti, pubblicato {n} volte oggi."),
    ),
    "tl": (
        ("other", "Nag-order ako noong {date}, order #{order}, hindi dumating hanggang ngayon."),
        ("other", "May ad ng adult webcam site sa feed ko, mukhang matatanda naman ang mga tao. Nire-report ko lang."),
        (
            "sextortion",
            "May nagme-message sa akin na magbayad ng {price} o ipapakalat nila ang mga "
            "pribadong litrato ko. {adult} taong gulang ako.",
        ),
        ("other", "Spam tungkol sa pautang, huli noong {date} ng {time}."),
    ),
}
NOISE_PLATFORM = (
    ("other", "Automated flag reviewed: adult performer, age verified on {date}. No action."),
    ("other", "Spam account posting the same loan ad {n} times, removed on {date}."),
    (
        "unsolicited_obscene_material_to_child",
        "Adult account sent an unsolicited link to a user aged {child} on {date}; account suspended.",
    ),
)
NOISE_LIVE = {
    "en": "Panic button pressed; reviewer thinks the performer is an adult, checking.",
    "it": "Pulsante premuto; il moderatore pensa che sia una persona adulta, verifica in corso.",
    "tl": "Pinindot ang panic button; mukhang nasa hustong gulang ang nasa stream, sinusuri pa.",
}

IMMINENT = {
    "en": (" It is happening now.", " Happening right now, please hurry.", " Live right now."),
    "it": (" Sta succedendo adesso.", " È in corso adesso, fate presto."),
    "tl": (" Nangyayari ngayon na.", " Ngayon na, live pa."),
}

AGE = {
    "en": ("about {n} years old", "around {n} yrs old", "maybe {n} years old"),
    "it": ("circa {n} anni", "forse {n} anni", "{n} anni circa"),
    "tl": ("mga {n} taong gulang", "mga {n} taon"),
}

HUB = {
    "en": " I also wrote to {platform} support at {email} and called {phone}.",
    "it": " Ho già scritto al supporto di {platform} ({email}, tel. {phone}).",
    "tl": " Nag-email na rin ako sa {platform} support sa {email}, tumawag din sa {phone}.",
}

EXTRA = {
    "en": (" Seen on {date}.", " Price was {price}.", " Noticed around {time}.", ""),
    "it": (" Visto il {date}.", " Prezzo {price}.", " Verso le {time}.", ""),
    "tl": (" Nakita noong {date}.", " Presyo {price}.", " Bandang {time}.", ""),
}

JOIN = {"en": (", ", " and ", "; "), "it": (", ", " e ", "; "), "tl": (", ", " o ", "; ")}

CUES = {
    "phone": {
        "en": ("call or text", "contact", "number", "mobile", "CP#", "text them at"),
        "it": ("numero", "cellulare", "chiamare il", "tel."),
        "tl": ("numero", "i-text sa", "tawagan sa", "CP#"),
    },
    "email": {"en": ("email", "e-mail", "mail"), "it": ("e-mail", "mail", "scrivere a"), "tl": ("email",)},
    "url": {"en": ("ad at", "link", "page"), "it": ("annuncio", "link", "pagina"), "tl": ("link", "ad sa")},
    "domain": {"en": ("site", "website"), "it": ("sito",), "tl": ("site", "website")},
    "btc": {"en": ("BTC", "bitcoin to"), "it": ("BTC", "bitcoin a"), "tl": ("BTC",)},
    "eth": {"en": ("ETH", "USDT ERC20"), "it": ("ETH",), "tl": ("ETH",)},
    "trx": {"en": ("USDT TRC20", "TRX"), "it": ("USDT TRC20",), "tl": ("USDT TRC20",)},
    "xmr": {"en": ("XMR", "monero"), "it": ("XMR",), "tl": ("XMR",)},
    "iban": {"en": ("IBAN", "bank transfer IBAN"), "it": ("IBAN", "bonifico su IBAN"), "tl": ("IBAN",)},
    "mtcn": {"en": ("Western Union MTCN", "MTCN"), "it": ("MTCN", "codice MTCN"), "tl": ("MTCN",)},
    "whatsapp": {"en": ("WhatsApp", "chat"), "it": ("WhatsApp",), "tl": ("WhatsApp",)},
}

MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre".split(),
    "tl": "Enero Pebrero Marso Abril Mayo Hunyo Hulyo Agosto Setyembre Oktubre Nobyembre Disyembre".split(),
}

SITES = {
    "en": ("a classifieds site", "social media", "a forum", "AdBoard-Test", "PixShare-Test"),
    "it": ("un sito di annunci", "i social", "un forum", "AdBoard-Test", "PixShare-Test"),
    "tl": ("isang classifieds site", "social media", "isang forum", "AdBoard-Test", "PixShare-Test"),
}

PAY_WORDS = ("remittance", "crypto", "e-wallet", "gift cards", "bank transfer")

# Ad templates: one piece from each pool per network; {city} {price} {contact} {sig} are filled per ad.
AD_OPENERS = (
    "New in {city}!",
    "Fresh sessions daily from {city}.",
    "{city} private rooms online now.",
    "Hello friends, greetings from {city}.",
    "VIP live rooms, {city} based.",
    "Open 24/7 from {city}.",
)
AD_OFFERS = (
    "Private video calls with young models",
    "Exclusive live sessions with young models",
    "Custom live shows on request, young new faces",
    "Private cam rooms with new young faces",
    "Family-run live studio, young members",
)
AD_PRICES = ("from USD {price}", "{price} USD per session", "only {price} dollars", "promo {price} USD")
AD_PAYS = (
    "pay first by remittance",
    "crypto accepted",
    "advance payment only",
    "e-wallet or crypto",
    "payment before the call",
)
AD_CLOSERS = (
    "Message {contact}.",
    "Contact {contact} for schedule.",
    "DM {contact}, serious only.",
    "Booking: {contact}.",
)
AD_SIGS = ("~{sig}~", "[{sig}]", "-- {sig}", "** {sig} **", "({sig})")
SIG_WORDS = "sunshine rainbow paradise starlight bluebird sweetdream goldenhour moonbeam".split()
