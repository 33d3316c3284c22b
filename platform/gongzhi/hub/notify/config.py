"""Which channels exist and which a party uses: read from a YAML file through the config kit
(every error names file:line; secrets only as ``{file: ...}`` or ``{env: ...}``)::

    version: 1
    channels:
      property_wecom: {type: wecom, key: {env: GONGZHI_WECOM_PROPERTY_KEY}}
      police_dingtalk: {type: dingtalk, access_token: {file: dingtalk.token},
                        secret: {file: dingtalk.secret}}
      sms: {type: sms, access_key_id: {env: ALIYUN_AK_ID}, access_key_secret: {env: ALIYUN_AK},
            sign_name: 共治平台, template: SMS_301234, digest_template: SMS_301235, daily_cap: 10}
    parties:
      property_office: {wecom: property_wecom, sms: sms}
      police_room: {dingtalk: police_dingtalk, sms: sms}

A person's channels (in the rosters: ``channels: [wecom, sms]``) name kinds; ``parties`` says
which configured channel of each kind a party's people are reached on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from gongzhi.core.config_kit import (
    STRICT_CONFIG,
    Identifier,
    PositiveDuration,
    Secret,
    load_model,
    to_ms,
)
from gongzhi.hub.notify import dingtalk, feishu, wecom
from gongzhi.hub.notify.aliyun import URL as ALIYUN_URL
from gongzhi.hub.notify.aliyun import AliyunSms
from gongzhi.hub.notify.channel import Channel
from gongzhi.hub.notify.dispatcher import Policy
from gongzhi.hub.notify.hook import SignedWebhook
from gongzhi.hub.notify.mail import SmtpMail
from gongzhi.hub.notify.sms import SmsChannel
from gongzhi.hub.parties import PARTY_IDS


class _Frozen(BaseModel):
    model_config = STRICT_CONFIG


Url = Annotated[str, Field(min_length=8, pattern=r"^https?://")]


class WeComConfig(_Frozen):
    type: Literal["wecom"]
    key: Secret
    markdown: bool = True
    url: Url = wecom.URL


class DingTalkConfig(_Frozen):
    type: Literal["dingtalk"]
    access_token: Secret
    secret: Secret
    url: Url = dingtalk.URL


class FeishuConfig(_Frozen):
    type: Literal["feishu"]
    hook: Secret  # the last part of the bot's webhook address
    secret: Secret | None = None
    url: Url = feishu.URL


class SmsConfig(_Frozen):
    type: Literal["sms"]
    provider: Literal["aliyun"] = "aliyun"
    access_key_id: Secret
    access_key_secret: Secret
    sign_name: str = Field(min_length=1)
    template: str = Field(min_length=1)
    digest_template: str | None = None
    daily_cap: int = Field(default=10, ge=1)
    region: str = "cn-hangzhou"
    url: Url = ALIYUN_URL


class EmailConfig(_Frozen):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(min_length=3)


class WebhookConfig(_Frozen):
    type: Literal["webhook"]
    url: Url
    secret: Secret


ChannelConfig = Annotated[WeComConfig | DingTalkConfig | FeishuConfig | SmsConfig | EmailConfig
                          | WebhookConfig, Field(discriminator="type")]


class DeliveryConfig(_Frozen):
    fallback_after: PositiveDuration = 5.0
    max_attempts: int = Field(default=12, ge=1)

    def policy(self) -> Policy:
        return Policy(fallback_after_ms=to_ms(self.fallback_after),
                      max_attempts=self.max_attempts)


class PartyChannels(_Frozen):
    """The configured channel a party's people are reached on, per kind; ``language``: the
    language of the party's group robots (else that of the first person a message is for)."""

    wecom: Identifier | None = None
    dingtalk: Identifier | None = None
    feishu: Identifier | None = None
    sms: Identifier | None = None
    email: Identifier | None = None
    webhook: Identifier | None = None
    language: Literal["zh", "en"] | None = None

    def kinds(self) -> dict[str, str]:
        return {kind: name for kind in ("wecom", "dingtalk", "feishu", "sms", "email", "webhook")
                if (name := getattr(self, kind)) is not None}


class NotifyConfig(_Frozen):
    version: Literal[1]
    channels: Mapping[Identifier, ChannelConfig] = Field(default_factory=dict)
    parties: Mapping[str, PartyChannels] = Field(default_factory=dict)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for party, kinds in self.parties.items():
            if party not in PARTY_IDS:
                raise ValueError(f"unknown party {party!r}; parties: "
                                 + ", ".join(sorted(PARTY_IDS)))
            for kind, name in kinds.kinds().items():
                found = self.channels.get(name)
                if found is None:
                    raise ValueError(f"{party}: no channel named {name!r}; channels: "
                                     + ", ".join(sorted(self.channels)))
                if found.type != kind:
                    raise ValueError(f"{party}: channel {name!r} is a {found.type} channel, "
                                     f"not {kind}")
        return self

    def channel_of(self, party: str, kind: str) -> str | None:
        found = self.parties.get(party)
        return None if found is None else found.kinds().get(kind)

    def robot_language(self, party: str) -> str | None:
        found = self.parties.get(party)
        return None if found is None else found.language


EMPTY = NotifyConfig(version=1)


def load_notify(path: Path | None) -> NotifyConfig:
    return EMPTY if path is None else load_model(path, NotifyConfig)


def build_channels(config: NotifyConfig, rng: random.Random | None = None) -> dict[str, Channel]:
    """The channel objects (no I/O: they connect when they send)."""
    built: dict[str, Channel] = {}
    for name, c in config.channels.items():
        if isinstance(c, WeComConfig):
            built[name] = wecom.WeComRobot(name, c.key, url=c.url, markdown=c.markdown)
        elif isinstance(c, DingTalkConfig):
            built[name] = dingtalk.DingTalkRobot(name, c.access_token, c.secret, url=c.url)
        elif isinstance(c, FeishuConfig):
            built[name] = feishu.FeishuBot(name, c.hook, c.secret, url=c.url)
        elif isinstance(c, SmsConfig):
            provider = AliyunSms(c.access_key_id, c.access_key_secret, url=c.url,
                                 region=c.region, rng=rng)
            built[name] = SmsChannel(name, provider, sign_name=c.sign_name,
                                     template_code=c.template,
                                     digest_template_code=c.digest_template,
                                     daily_cap=c.daily_cap)
        elif isinstance(c, EmailConfig):
            built[name] = SmtpMail(name, host=c.host, port=c.port, sender=c.sender,
                                   starttls=c.starttls, username=c.username,
                                   password=c.password)
        else:
            built[name] = SignedWebhook(name, c.url, c.secret)
    return built
