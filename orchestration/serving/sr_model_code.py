"""MLflow models-from-code entry point: the registered model is ``MMSRPyfunc``.

MLflow executes this file when it loads the model; it only names the model object.
"""

import mlflow

from orchestration.serving.sr_pyfunc import MMSRPyfunc

mlflow.models.set_model(MMSRPyfunc())
