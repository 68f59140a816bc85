"""The kiosk's flows put together: the navigator (app.flow in the .kv files)
with the bill payment, the shared bank card step and, with the IC wallet,
the card services. This is the one module that knows every flow; the flows
know only the shared pieces (navigation, messages, bank_card), never each
other (pyproject's import contract "screen-flows").

A new flow is one module beside bill_payment and card_services, its screens
(app.py's SCREENS), and one `register` line here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.properties import ObjectProperty

from kiosk.screens.bank_card import BankCardStep
from kiosk.screens.bank_services import BankServices
from kiosk.screens.bill_payment import BillPayment
from kiosk.screens.meter_purchase import MeterPurchase
from kiosk.screens.navigation import Navigator, Spawn
from kiosk.services.bills import BillService

if TYPE_CHECKING:
    from kiosk.services.bank_card_services import BankCardServices
    from kiosk.services.fleet.service import FleetService
    from kiosk.services.onecard import OneCardService
    from kiosk.services.onecard_blacklist import OneCardBlacklistService
    from kiosk.services.meter import MeterService
    from kiosk.services.payment import PaymentService
    from kiosk.services.transfer import TransferService
    from kiosk.services.wallet import WalletService


class Flows(Navigator):
    payment = ObjectProperty(None)                # BillPayment
    bank = ObjectProperty(None)                   # BankCardStep
    cards = ObjectProperty(None, allownone=True)  # CardServices, when the IC wallet is configured
    bankcards = ObjectProperty(None)              # BankServices (银行卡服务); offered with a bank link
    meters = ObjectProperty(None)                 # MeterPurchase (购电 / 购水 / 购气); offered with the meter service
    transfers = ObjectProperty(None, allownone=True)   # TransferSteps (转账), with the IC wallet's transfer service

    def __init__(self, bills: BillService, spawn: Spawn, payments: PaymentService | None = None,
                 wallet: WalletService | None = None, fleet: FleetService | None = None,
                 bank_cards: BankCardServices | None = None, onecard: OneCardService | None = None,
                 meters: MeterService | None = None, transfers: TransferService | None = None,
                 onecard_blacklist: OneCardBlacklistService | None = None,
                 **kwargs: Any) -> None:
        super().__init__(spawn, fleet, **kwargs)
        self._payments = payments
        self.bank = BankCardStep(self, payments, spawn)
        self.payment = BillPayment(self, self.bank, bills, payments, spawn)
        # going home resets them in this order: the bill payment, its bank card, the card services
        self.register(self.payment, name="pay", start=self.payment.start)
        self.register(self.bank)
        if wallet is not None:
            from kiosk.screens.card_services.flow import CardServices   # only with the IC wallet: it loads the card code

            self.cards = CardServices(self, self.bank, wallet, payments, spawn, onecard=onecard, bills=bills,
                                      onecard_blacklist=onecard_blacklist)
            self.register(self.cards, name="card", start=self.cards.start)
            self.payment.pay_by_wallet_with = self.cards.pay_bill
            if transfers is not None:       # 转账, reached from card services (card_insert)
                from kiosk.screens.card_services.transfer import TransferSteps

                self.transfers = TransferSteps(self, transfers, spawn, self.bank)
                self.register(self.transfers, name="transfer", start=self.transfers.start)
        # always there for the screens to bind to; offered on the idle screen only with the bank link
        self.bankcards = BankServices(self, self.bank, bank_cards, spawn)
        if bank_cards is not None and payments is not None:
            self.register(self.bankcards, name="bankcard", start=self.bankcards.start)
        else:
            self.register(self.bankcards)
        # prepaid meters: offered where the kiosk has the meter service (IC readers and payments)
        self.meters = MeterPurchase(self, self.bank, meters, wallet, spawn)
        if meters is not None:
            self.register(self.meters, name="meter", start=self.meters.start)
        else:
            self.register(self.meters)

    @property
    def payments_enabled(self) -> bool:
        return self._payments is not None

    @property
    def wallet_enabled(self) -> bool:
        return self.cards is not None
