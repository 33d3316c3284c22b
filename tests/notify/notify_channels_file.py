"""A channels file (GONGZHI_NOTIFY) for the platform's tests: a WeCom robot, a DingTalk robot
and Aliyun SMS at the local providers, every secret in a file of its own."""

from __future__ import annotations

from pathlib import Path

from notify_providers import ALIYUN_ID, ALIYUN_SECRET, DING_SECRET, DING_TOKEN, WECOM_KEY


def channels_file(tmp_path: Path, base: str) -> Path:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in {"wecom.key": WECOM_KEY, "ding.token": DING_TOKEN,
                        "ding.secret": DING_SECRET, "ak.id": ALIYUN_ID,
                        "ak.secret": ALIYUN_SECRET}.items():
        (secrets / name).write_text(value + "\n")
    path = tmp_path / "notify.yaml"
    path.write_text(f"""version: 1
channels:
  property_wecom:
    type: wecom
    key: {{file: secrets/wecom.key}}
    url: {base}/wecom/cgi-bin/webhook/send
  property_dingtalk:
    type: dingtalk
    access_token: {{file: secrets/ding.token}}
    secret: {{file: secrets/ding.secret}}
    url: {base}/dingtalk/robot/send
  sms:
    type: sms
    access_key_id: {{file: secrets/ak.id}}
    access_key_secret: {{file: secrets/ak.secret}}
    sign_name: 共治平台
    template: SMS_300001
    url: {base}/aliyun/
parties:
  property_office: {{wecom: property_wecom, dingtalk: property_dingtalk, sms: sms}}
  police_room: {{sms: sms}}
""", encoding="utf-8")
    return path
