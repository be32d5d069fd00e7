// What every screen's view has alike: its title and lead line, and the error line under
// everything else.

import { byId, show } from "./dom";
import { shown } from "./format";

export class ScreenView {
  protected readonly title = byId("title");
  protected readonly lead = byId("lead");
  protected readonly error = byId("error");

  showError(message: string): void {
    this.error.textContent = shown(message, 2000);
    show(this.error);
  }

  clearError(): void {
    show(this.error, false);
    this.error.textContent = "";
  }
}
